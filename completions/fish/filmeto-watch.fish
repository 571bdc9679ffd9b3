# fish completion for filmeto-watch; operands are files of event lines

complete -c filmeto-watch -s h -l help -d 'Print usage and exit'
complete -c filmeto-watch -l version -d 'Print version and exit'
