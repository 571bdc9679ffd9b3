# fish completion for filmeto-watch; operands are files of event lines

complete -c filmeto-watch -s q -l quiet -d 'Print only failures and the summary'
complete -c filmeto-watch -s v -l verbose -d 'Also print progress, every 5s per task at most'
complete -c filmeto-watch -l color -x -a 'auto always never' -d 'Colour the output'
complete -c filmeto-watch -l summary-json -r -F -d 'Write the summary as JSON to FILE'
complete -c filmeto-watch -l junit -r -F -d 'Write JUnit XML to FILE'
complete -c filmeto-watch -s h -l help -d 'Print usage and exit'
complete -c filmeto-watch -l version -d 'Print version and exit'
