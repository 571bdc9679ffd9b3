# fish completion for filmeto-plugin

set -l cmds list info tools validate path install remove new test doctor config

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
	-a tools -d 'List each tool and the plugins serving it'
complete -c filmeto-plugin -n "not __fish_seen_subcommand_from $cmds" \
	-a validate -d 'Check the manifest of a plugin directory'
complete -c filmeto-plugin -n "not __fish_seen_subcommand_from $cmds" \
	-a path -d 'Print the plugin search path'
complete -c filmeto-plugin -n "not __fish_seen_subcommand_from $cmds" \
	-a install -d 'Install a plugin from a directory or an archive'
complete -c filmeto-plugin -n "not __fish_seen_subcommand_from $cmds" \
	-a remove -d 'Remove a plugin from the user plugin directory'
complete -c filmeto-plugin -n "not __fish_seen_subcommand_from $cmds" \
	-a new -d 'Create a new plugin'
complete -c filmeto-plugin -n "not __fish_seen_subcommand_from $cmds" \
	-a test -d 'Start a plugin and check its protocol'
complete -c filmeto-plugin -n "not __fish_seen_subcommand_from $cmds" \
	-a doctor -d 'Show the Python interpreter of a plugin and its missing packages'
complete -c filmeto-plugin -n '__fish_seen_subcommand_from list' \
	-l json -d 'Print JSON'
complete -c filmeto-plugin -n '__fish_seen_subcommand_from list' \
	-l names -d 'Print only the plugin names, one a line'
complete -c filmeto-plugin -n '__fish_seen_subcommand_from tools' \
	-l json -d 'Print a JSON object of tool to plugins'
complete -c filmeto-plugin -n '__fish_seen_subcommand_from info' \
	-l json -d 'Print the normalized manifest as JSON'
complete -c filmeto-plugin -n '__fish_seen_subcommand_from path' \
	-l json -d 'Print a JSON array of the directories'
complete -c filmeto-plugin -n "not __fish_seen_subcommand_from $cmds" \
	-a config -d 'Show the config file, paths and defaults in use, and their sources'
complete -c filmeto-plugin -n '__fish_seen_subcommand_from config' \
	-l json -d 'Print a JSON object of the settings and their sources'
complete -c filmeto-plugin -n '__fish_seen_subcommand_from info remove test doctor' \
	-a '(filmeto-plugin list --names 2>/dev/null)' -d Plugin
complete -c filmeto-plugin -n '__fish_seen_subcommand_from validate test doctor' \
	-a '(__fish_complete_directories (commandline -ct))'
complete -c filmeto-plugin -n '__fish_seen_subcommand_from install' \
	-l force -d 'Replace an installed plugin of the same name'
complete -c filmeto-plugin -n '__fish_seen_subcommand_from install' -F
complete -c filmeto-plugin -n '__fish_seen_subcommand_from new' \
	-l lang -x -a 'c python sh' -d 'Language of the new plugin'
complete -c filmeto-plugin -n '__fish_seen_subcommand_from new' \
	-l dir -x -a '(__fish_complete_directories (commandline -ct))' -d 'Parent directory'
