# fish completion for filmeto-serve; it takes no operands

complete -c filmeto-serve -f
complete -c filmeto-serve -s l -l listen -x -d 'Listen on ADDR:PORT (repeatable)' \
	-a '127.0.0.1:8470 [::1]:8470'
complete -c filmeto-serve -l spool -x -d 'The spool to serve' \
	-a '(__fish_complete_directories (commandline -ct))'
complete -c filmeto-serve -s w -l workers -x -d 'Local filmeto-run --spool workers (0: none)'
complete -c filmeto-serve -l key-file -r -F -d 'API keys, NAME KEY [admin] a line, mode 0600'
complete -c filmeto-serve -l cors -x -d 'Let pages of ORIGIN call the server (repeatable)' \
	-a 'http://localhost:5173'
complete -c filmeto-serve -l upload -x -d 'Workers upload each task'"'"'s outputs to s3://BUCKET/PREFIX/TASK_ID/'
complete -c filmeto-serve -l url-ttl -x -d 'Lifetime of presigned URLs of uploads (seconds)'
complete -c filmeto-serve -s h -l help -d 'Print usage and exit'
complete -c filmeto-serve -l version -d 'Print version and exit'
