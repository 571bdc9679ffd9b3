# fish completion for filmeto-submit

complete -c filmeto-submit -f
complete -c filmeto-submit -s t -l tool -x -d 'Tool type' -a '
	text2text\t"text from text"
	text2image\t"an image from text"
	image2image\t"an image from an image and text"
	image2video\t"a video clip from an image"
	text2video\t"a video clip from text"
	speak2video\t"a video clip from speech"
	text2speak\t"speech from text"
	text2music\t"music from text"'
complete -c filmeto-submit -s P -l plugin -x -d 'Plugin to use' \
	-a '(filmeto-plugin list --names 2>/dev/null)'
complete -c filmeto-submit -s p -l param -x -d 'Set a parameter (KEY=VALUE, KEY=@FILE)'
complete -c filmeto-submit -s r -l resource -r -F -d 'Add an input resource (PATH or URL)'
complete -c filmeto-submit -l resource-base64 -r -F -d 'Add a file inlined as base64'
complete -c filmeto-submit -s i -l id -x -d 'Task id'
complete -c filmeto-submit -l depends -x -d 'Run after task ID'
complete -c filmeto-submit -l timeout -x -d 'Execution timeout in seconds'
complete -c filmeto-submit -l preset -x -d 'Apply a preset' \
	-a '(filmeto-submit --list-presets 2>/dev/null | cut -d" " -f1)'
complete -c filmeto-submit -l list-presets -a 'text json' -d 'List the presets (=json: as JSON) and exit'
complete -c filmeto-submit -l storyboard -r -F -d 'Expand a storyboard (YAML or JSON)'
complete -c filmeto-submit -l size -x -d 'Film size for --storyboard (WxH)'
complete -c filmeto-submit -l fps -x -d 'Film frame rate for --storyboard'
complete -c filmeto-submit -l json -r -F -d 'Read whole task objects'
complete -c filmeto-submit -l each -d 'A task for every completed line on stdin'
complete -c filmeto-submit -l dry-run -d 'Print the plan, emit no task'
complete -c filmeto-submit -l queue -d 'Put the tasks into the spool, print their ids'
complete -c filmeto-submit -l cancel -d 'Cancel the spooled tasks named by the ids'

# The ids of the tasks waiting or running in the spool: the names in its
# queue/ less their 16-digit SEQ and the dot.
function __filmeto_spool_ids
	set -l dir $FILMETO_SPOOL
	if test -z "$dir"
		set -l state $XDG_STATE_HOME
		test -n "$state"; or set state ~/.local/state
		set dir $state/filmeto/spool
	end
	set -l names $dir/queue/*.*
	string replace -r '^.*/[0-9a-f]{16}\\.' '' -- $names
end
complete -c filmeto-submit -n '__fish_seen_argument -l cancel' -a '(__filmeto_spool_ids)' \
	-d 'Spooled task'
complete -c filmeto-submit -s h -l help -d 'Print usage and exit'
complete -c filmeto-submit -l version -d 'Print version and exit'
