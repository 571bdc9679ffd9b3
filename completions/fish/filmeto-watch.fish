# fish completion for filmeto-watch; operands are files of event lines,
# task ids come from the spool (filmeto-watch --list), their state as the
# description

function __filmeto_watch_ids
    filmeto-watch --list 2>/dev/null | awk '{print $3 "\t" $1}'
end

complete -c filmeto-watch -s q -l quiet -d 'Print only failures and the summary'
complete -c filmeto-watch -s v -l verbose -d 'Also print progress, every 5s per task at most'
complete -c filmeto-watch -l allow-empty -d 'A stream that names no task is no failure'
complete -c filmeto-watch -l color -x -a 'auto always never' -d 'Colour the output'
complete -c filmeto-watch -l summary-json -r -F -d 'Write the summary as JSON to FILE'
complete -c filmeto-watch -l junit -r -F -d 'Write JUnit XML to FILE'
complete -c filmeto-watch -s f -l follow -x -a '(__filmeto_watch_ids)' -d 'Follow a task in the spool until it ends'
complete -c filmeto-watch -l all -d 'Follow every unfinished task in the spool'
complete -c filmeto-watch -l list -d 'List the tasks in the spool'
complete -c filmeto-watch -l state -x -a 'queued running done failed cancelled' -d 'With --list, only tasks in STATE'
complete -c filmeto-watch -l json -d 'With --list, one JSON array of the tasks'
complete -c filmeto-watch -l status -x -a '(__filmeto_watch_ids)' -d 'Print the status of a task as JSON'
complete -c filmeto-watch -s h -l help -d 'Print usage and exit'
complete -c filmeto-watch -l version -d 'Print version and exit'
