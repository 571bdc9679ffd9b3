# fish completion for filmeto-plugin

set -l cmds list info validate path

complete -c filmeto-plugin -f
complete -c filmeto-plugin -n "not __fish_seen_subcommand_from $cmds" \
	-s h -l help -d 'Print usage and exit'
complete -c filmeto-plugin -n "not __fish_seen_subcommand_from $cmds" \
	-l version -d 'Print version and exit'
complete -c filmeto-plugin -n "not __fish_seen_subcommand_from $cmds" \
	-a list -d 'List the plugins on the search path'
complete -c filmeto-plugin -n "not __fish_seen_subcommand_from $cmds" \
	-a info -d 'Describe a plugin and its parameters'
complete -c filmeto-plugin -n "not __fish_seen_subcommand_from $cmds" \
	-a validate -d 'Check the manifest of a plugin directory'
complete -c filmeto-plugin -n "not __fish_seen_subcommand_from $cmds" \
	-a path -d 'Print the plugin search path'
complete -c filmeto-plugin -n '__fish_seen_subcommand_from list' \
	-l json -d 'Print JSON'
complete -c filmeto-plugin -n '__fish_seen_subcommand_from info' \
	-l json -d 'Print the normalized manifest as JSON'
complete -c filmeto-plugin -n '__fish_seen_subcommand_from info' \
	-a '(filmeto-plugin list 2>/dev/null | cut -d" " -f1)' -d Plugin
complete -c filmeto-plugin -n '__fish_seen_subcommand_from validate' \
	-a '(__fish_complete_directories (commandline -ct))'
