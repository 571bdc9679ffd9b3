#!/usr/bin/env bats
# Plugin names as the Filmeto project writes them ("Local Server"), the
# folder each name lives in, and which plugin serves a tool when none is
# named: config.yaml's defaults:, else a bundled plugin, else the only one.

load test_helper

setup() {
	common_setup
}

# plug DIR NAME TOOLS: a plugin manifest under ./p/DIR (never started).
plug() {
	mkdir -p "p/$1"
	printf 'name: "%s"\ntools: [%s]\ncommand: ["true"]\n' "$2" "$3" > "p/$1/plugin.yaml"
}

@test "a name with a space: listed in its own column, info and tools, reachable with -P" {
	run filmeto-plugin list
	[ "$status" -eq 0 ]
	[[ "$output" == *"Spaced Server 1.0.0 text2image $ROOT/tests/plugins/spaced"* ]]
	[[ "$output" == *"chaos         1.0.0 text2text "* ]]
	run filmeto-plugin info "Spaced Server"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "Spaced Server 1.0.0" ]]
	[[ "$output" == *"tool text2image"* ]]
	run filmeto-plugin tools
	[[ "$output" =~ (^|$'\n')text2image\ +Spaced\ Server,\ .*titlecard\* ]]
	filmeto-submit -t text2image -P "Spaced Server" -p prompt=x -i spaced | filmeto-run -d out > events
	[ "$(final spaced '["status"]')" = success ]
	[ "$(final spaced '["metadata"]["plugin_name"]')" = "Spaced Server" ]
	[ "$(final spaced '["output_files"]')" = "[\"$BATS_TEST_TMPDIR/out/spaced/image.ppm\"]" ]
	[ "$(head -c 2 out/spaced/image.ppm)" = P6 ]
}

@test "a name with a space in a storyboard and in config.yaml" {
	cat > board.yaml <<'EOF2'
plugins: {text2image: "Spaced Server"}
scenes:
  - prompt: a
EOF2
	filmeto-submit --storyboard board.yaml > tasks
	[ "$(jget tasks 'by("task")[0]["plugin_name"]')" = "Spaced Server" ]
	mkdir -p "$XDG_CONFIG_HOME/filmeto"
	printf 'defaults: {text2image: "Spaced Server"}\nplugins:\n  "Spaced Server": {port: 1}\n' > "$XDG_CONFIG_HOME/filmeto/config.yaml"
	filmeto-submit -t text2image -p prompt=x -i cfg > tasks
	[ "$(jget tasks 'by("task")[0]["plugin_name"]')" = "Spaced Server" ]
	run filmeto-plugin tools
	[[ "$output" =~ text2image\ +Spaced\ Server\*, ]]
}

@test "bad names: a manifest, -P, a task line and config.yaml each say which field" {
	plug slash "a/b" x
	plug ctl 'bell\u0007' x
	plug c1 'next\u0085line' x
	export FILMETO_PLUGIN_PATH="$BATS_TEST_TMPDIR/p"
	run filmeto-plugin list
	[[ "$output" == *"p/slash/plugin.yaml:1: name: required, 1-128 bytes of printable UTF-8 text without '/'"* ]]
	[[ "$output" == *"p/ctl/plugin.yaml:1: name: required"* ]]
	[[ "$output" == *"p/c1/plugin.yaml:1: name: required"* ]]
	run --separate-stderr filmeto-submit -t text2image -P "a/b"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"-P: 'a/b' is not a plugin name"* ]]
	printf '{"type":"task","task_id":"t1","tool_name":"text2text","plugin_name":"x\\u0007y","parameters":{}}\n' | filmeto-run > events || true
	[ "$(final t1 '["error"]["message"]')" != "" ]
	[[ "$(final t1 '["error"]["message"]')" == *"plugin_name: not a plugin name"* ]]
	mkdir -p "$XDG_CONFIG_HOME/filmeto"
	printf 'defaults: {text2image: "a/b"}\n' > "$XDG_CONFIG_HOME/filmeto/config.yaml"
	run --separate-stderr filmeto-submit -t text2image -p prompt=x
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"config.yaml:1: defaults.text2image must be a plugin name"* ]]
	printf 'plugins:\n  "a/b": {}\n' > "$XDG_CONFIG_HOME/filmeto/config.yaml"
	run --separate-stderr filmeto-submit -t text2image -p prompt=x
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"plugins: 'a/b' is not a plugin name"* ]]
}

@test "default: a bundled plugin wins over one added to the path" {
	# Spaced Server comes first on the path and serves text2image too.
	filmeto-submit -t text2image -p prompt=x > tasks
	[ "$(jget tasks 'by("task")[0]["plugin_name"]')" = titlecard ]
	filmeto-submit -t text2text -p text=x > tasks
	[ "$(jget tasks 'by("task")[0]["plugin_name"]')" = outline ]
}

@test "default: config.yaml's choice wins over the bundled plugin" {
	mkdir -p "$XDG_CONFIG_HOME/filmeto"
	printf 'defaults: {text2text: pyfilmeto}\n' > "$XDG_CONFIG_HOME/filmeto/config.yaml"
	filmeto-submit -t text2text -p text=x > tasks
	[ "$(jget tasks 'by("task")[0]["plugin_name"]')" = pyfilmeto ]
}

@test "default: the only plugin serving a tool; several is an error naming them and the config line" {
	plug one "Only One" "onlytool, sharedtool"
	plug two "Second" "sharedtool"
	export FILMETO_PLUGIN_PATH="$BATS_TEST_TMPDIR/p"
	filmeto-submit -t onlytool > tasks
	[ "$(jget tasks 'by("task")[0]["plugin_name"]')" = "Only One" ]
	run --separate-stderr filmeto-submit -t sharedtool
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"several plugins serve sharedtool (Only One, Second): choose one in $XDG_CONFIG_HOME/filmeto/config.yaml with defaults: {sharedtool: \"Only One\"}"* ]]
	run filmeto-plugin tools
	[[ "$output" =~ (^|$'\n')sharedtool\ +Only\ One,\ Second($'\n'|$) ]]
	# The line it suggests works.
	mkdir -p "$XDG_CONFIG_HOME/filmeto"
	printf 'defaults: {sharedtool: "Second"}\n' > "$XDG_CONFIG_HOME/filmeto/config.yaml"
	filmeto-submit -t sharedtool > tasks
	[ "$(jget tasks 'by("task")[0]["plugin_name"]')" = Second ]
}

@test "default: a plugin without remote: serving a bundled plugin's tool never takes it over" {
	# Upstream's ComfyUI says no remote:, and serves text2image.
	plug comfy "ComfyUI" "text2image, image2image"
	export FILMETO_PLUGIN_PATH="$BATS_TEST_TMPDIR/p"
	filmeto-submit -t text2image -p prompt=x > tasks
	[ "$(jget tasks 'by("task")[0]["plugin_name"]')" = titlecard ]
	# Where nothing bundled offline serves the tool, the bundled services
	# that do count as candidates too: no silent choice, an error naming
	# them all and the config line to write.
	run --separate-stderr filmeto-submit -t image2image -p prompt=x
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"several plugins serve image2image (ComfyUI, comfyui, "*"): choose one in "*"defaults: {image2image: \"ComfyUI\"}"* ]]
	run filmeto-plugin tools
	[[ "$output" =~ (^|$'\n')image2image\ +ComfyUI,\  ]]
	# The only plugin that serves a tool at all is its default.
	plug inpaint "Inpaint Server" "inpainting"
	filmeto-submit -t inpainting > tasks
	[ "$(jget tasks 'by("task")[0]["plugin_name"]')" = "Inpaint Server" ]
}

@test "two names that map to one folder: discovery breaks the later, naming both" {
	mkdir -p a b
	plug x "A B" t
	mv p/x a/
	plug x "A_B" t
	mv p/x b/
	export FILMETO_PLUGIN_PATH="$BATS_TEST_TMPDIR/a:$BATS_TEST_TMPDIR/b"
	run filmeto-plugin list
	[[ "$output" == *"b/x/plugin.yaml: name: plugin 'A_B' and plugin 'A B' ($BATS_TEST_TMPDIR/a/x) both map to the folder name 'A_B'"* ]]
	run filmeto-plugin info "A B"
	[ "$status" -eq 0 ]
	run --separate-stderr filmeto-submit -t t -P A_B
	[ "$status" -eq 2 ]
}

@test "install: a folder made safe from the name; a name that collides is refused naming both" {
	plug spaced "Local Server" t
	filmeto-plugin install p/spaced
	[ -f "$XDG_DATA_HOME/filmeto/plugins/Local_Server/plugin.yaml" ]
	run filmeto-plugin info "Local Server"
	[ "$status" -eq 0 ]
	plug under "Local_Server" t
	run filmeto-plugin install --force p/under
	[ "$status" -ne 0 ]
	[[ "$output" == *"plugin 'Local_Server' would be installed in '$XDG_DATA_HOME/filmeto/plugins/Local_Server', where plugin 'Local Server' is: both names map to the folder 'Local_Server'"* ]]
	run filmeto-plugin remove "Local Server"
	[ "$status" -eq 0 ]
	[ ! -e "$XDG_DATA_HOME/filmeto/plugins/Local_Server" ]
}
