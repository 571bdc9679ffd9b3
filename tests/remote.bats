#!/usr/bin/env bats
# What the remote plugins share: used only when named, settings from
# config.yaml, and (with every fake service at once) a film rendered
# against them and no key anywhere in what filmeto writes.

load test_helper

setup() {
	common_setup
}

teardown() {
	stop_fakes
}

# A copy of the fakemedia test plugin named NAME that says remote: true.
remote_copy() {
	private_plugins
	mkdir -p "$BATS_TEST_TMPDIR/plugins/$1"
	sed -e "s/^name: fakemedia/name: $1/" -e '$a remote: true' \
		"$ROOT/tests/plugins/fakemedia/plugin.yaml" >"$BATS_TEST_TMPDIR/plugins/$1/plugin.yaml"
}

@test "a remote plugin is used only when it is named" {
	remote_copy aaremote
	run filmeto-plugin info aaremote --json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | python3 -c 'import json,sys; print(json.load(sys.stdin)["remote"])')" = True ]

	# First on the path, but remote: the bundled offline plugin serves the tool.
	run filmeto-submit -t text2speak -p text=hi
	[ "$status" -eq 0 ]
	[[ "$output" == *'"plugin_name":"espeak"'* ]]

	run filmeto-submit -t text2speak -P aaremote -p text=hi
	[ "$status" -eq 0 ]
	[[ "$output" == *'"plugin_name":"aaremote"'* ]]

	mkdir -p "$XDG_CONFIG_HOME/filmeto"
	printf 'defaults:\n  text2speak: aaremote\n' >"$XDG_CONFIG_HOME/filmeto/config.yaml"
	run filmeto-submit -t text2speak -p text=hi
	[ "$status" -eq 0 ]
	[[ "$output" == *'"plugin_name":"aaremote"'* ]]
}

@test "a tool only remote plugins serve names them in the error" {
	remote_copy aaremote
	sed -i -e '/^tools:/,/^[a-z]/{/name: text2speak/s/text2speak/text2video/}' \
		"$BATS_TEST_TMPDIR/plugins/aaremote/plugin.yaml"
	run filmeto-submit -t text2video -p text=hi
	[ "$status" -eq 2 ]
	[[ "$output" == *"no offline plugin serves tool 'text2video'; name a remote one that does: "*aaremote* ]]
}

@test "remote: must be a boolean" {
	remote_copy aaremote
	sed -i 's/^remote: true/remote: sometimes/' "$BATS_TEST_TMPDIR/plugins/aaremote/plugin.yaml"
	run filmeto-plugin validate "$BATS_TEST_TMPDIR/plugins/aaremote"
	[ "$status" -ne 0 ]
	[[ "$output" == *"remote: must be true or false"* ]]
}

@test "plugins.NAME in config.yaml reaches the plugin as settings and keys the cache" {
	private_plugins
	mkdir -p "$XDG_CONFIG_HOME/filmeto"
	printf 'plugins:\n  pyfilmeto:\n    endpoint: http://127.0.0.1:1/v1\n    model: m1\n' \
		>"$XDG_CONFIG_HOME/filmeto/config.yaml"
	filmeto-submit -t text2text -P pyfilmeto -p text=hello --id t1 >task.ndjson
	run filmeto-run -d out <task.ndjson
	[ "$status" -eq 0 ]
	[ "$(jget <(echo "$output") 'by("completed")[0]["metadata"].get("cached", False)')" = false ]
	run filmeto-run -d out <task.ndjson
	[ "$(jget <(echo "$output") 'by("completed")[0]["metadata"].get("cached", False)')" = true ]
	# Another model in the settings is another output.
	sed -i 's/model: m1/model: m2/' "$XDG_CONFIG_HOME/filmeto/config.yaml"
	run filmeto-run -d out <task.ndjson
	[ "$(jget <(echo "$output") 'by("completed")[0]["metadata"].get("cached", False)')" = false ]

	printf 'plugins:\n  pyfilmeto: [not, a, mapping]\n' >"$XDG_CONFIG_HOME/filmeto/config.yaml"
	run filmeto-run -d out <task.ndjson
	[ "$status" -ne 0 ]
	[[ "$output" == *"config.yaml:2: plugins.pyfilmeto must be a mapping of settings"* ]]
}

@test "a storyboard with comfyui pictures and openai narration renders a film against the fakes, and the key stays secret" {
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
	local key=sk-test-FILM-SECRET-9876
	start_fake comfyui
	COMFY_LOG=$FAKE_LOG
	export COMFYUI_URL=$FAKE_URL
	start_fake openai --key "$key"
	OPENAI_LOG=$FAKE_LOG
	export OPENAI_BASE_URL=$FAKE_URL/v1 OPENAI_API_KEY=$key
	cat >board.yaml <<-'YAML'
	size: 320x240
	fps: 12
	plugins: {text2image: comfyui, text2speak: openai}
	scenes:
	  - title: Harbour
	    prompt: a harbour at dawn, oil painting
	    narration: The boats came home at dawn.
	    duration: 2
	  - title: Storm
	    prompt: a storm over the lighthouse
	    narration: By night the storm had come.
	    duration: 2
	    transition: crossfade
	YAML
	filmeto-submit --storyboard board.yaml >tasks.ndjson
	run --separate-stderr filmeto-run -d out -o film.mp4 <tasks.ndjson
	echo "$output" >events.ndjson
	echo "$stderr" >stderr.txt
	[ "$status" -eq 0 ]

	# The film: both scenes' pictures and speech, on one clock.
	ffprobe -v error -show_entries stream=codec_type,width,height -of csv=p=0 film.mp4 >streams
	grep -qx 'video,320,240' streams
	grep -qx 'audio' streams
	dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 film.mp4)
	python3 -c "import sys; d=float(sys.argv[1]); sys.exit(0 if 3.3 < d < 3.8 else 1)" "$dur"
	[ -z "$(ffmpeg -nostdin -v error -i film.mp4 -f null - 2>&1)" ]

	# Each scene's picture came from ComfyUI, each narration from openai.
	[ "$(grep -c '"path": "/prompt"' "$COMFY_LOG")" -eq 2 ]
	grep -q '"path": "/view?' "$COMFY_LOG"
	[ "$(grep -c '"path": "/v1/audio/speech"' "$OPENAI_LOG")" -eq 2 ]
	[ "$(jget events.ndjson 'sorted(l["plugin_name"] for l in by("started") if l["task_id"].endswith("-image"))')" = '["comfyui", "comfyui"]' ]
	[ "$(python3 -c 'import json; print([s["plugins"]["narration"] for s in json.load(open("film.json"))["scenes"]])')" = "['openai', 'openai']" ]
	[ "$(jget events.ndjson 'len([l for l in by("progress") if l["task_id"].endswith("-image")]) > 0')" = true ]

	# A downloaded picture is a file like any other output: the umask decides.
	img=$(find out -path '*-image/*.png' | head -1)
	[ "$(stat -c %a "$img")" = "$(printf '%o' $((0666 & ~0$(umask))))" ]

	# The key reached the service, and nothing filmeto wrote holds it.
	grep -q "Bearer $key" "$OPENAI_LOG"
	! grep -rqF "$key" events.ndjson stderr.txt out film.mp4 film.json film.srt \
		"$XDG_CACHE_HOME" "$XDG_STATE_HOME" "$XDG_DATA_HOME" 2>/dev/null
}
