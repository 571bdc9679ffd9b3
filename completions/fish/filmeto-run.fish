# fish completion for filmeto-run; operands are files of task lines

complete -c filmeto-run -s j -l jobs -x -d 'Tasks in flight at once'
complete -c filmeto-run -s d -l output-dir -x -d 'Where outputs go' \
	-a '(__fish_complete_directories (commandline -ct))'
complete -c filmeto-run -s o -l output -r -d 'Write the combined film here (.mp4, .mov, .mkv)'
complete -c filmeto-run -l placeholder -d 'A failed scene becomes a title card'
complete -c filmeto-run -l limit -x -d 'Limit scarce resources (NAME=N,...)'
complete -c filmeto-run -l queue-timeout -x -d 'Fail a task that waits longer for --limit'
complete -c filmeto-run -l heartbeat -x -d 'Seconds between heartbeat lines (0 for none)'
complete -c filmeto-run -l grace -x -d 'Seconds between cancel and kill'
complete -c filmeto-run -l no-cache -d 'Always run; do not answer from the output cache'
complete -c filmeto-run -s h -l help -d 'Print usage and exit'
complete -c filmeto-run -l version -d 'Print version and exit'
complete -c filmeto-run -l spool -d 'Work the spool instead of reading task lines'
complete -c filmeto-run -l drain -d 'With --spool: exit once no queued task is left'
complete -c filmeto-run -l prune -x -d 'With --spool: remove tasks finished longer ago than AGE' \
	-a '12h 7d 2w'
complete -c filmeto-run -l max-claims -x -d 'With --spool: fail a task once N workers died running it'
complete -c filmeto-run -l executor -x -d 'Where tasks run' -a 'local slurm'
complete -c filmeto-run -l shared-dir -x -d 'With --executor slurm: a work directory every node sees' \
	-a '(__fish_complete_directories (commandline -ct))'
complete -c filmeto-run -l sbatch-arg -x -d 'With --executor slurm: one more sbatch option for every job'
complete -c filmeto-run -l slurm-poll -x -d 'With --executor slurm: seconds between looks at the jobs'
complete -c filmeto-run -l upload -x -d 'Upload each task'"'"'s outputs to s3://BUCKET/PREFIX/TASK_ID/'
complete -c filmeto-run -l url-ttl -x -d 'Lifetime of presigned URLs of uploads (seconds)'
