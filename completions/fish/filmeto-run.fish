# fish completion for filmeto-run; operands are files of task lines

complete -c filmeto-run -s O -l output-dir -x -d 'Where outputs go' \
	-a '(__fish_complete_directories (commandline -ct))'
complete -c filmeto-run -s h -l help -d 'Print usage and exit'
complete -c filmeto-run -l version -d 'Print version and exit'
