#!/usr/bin/env bats
# filmeto-plugin: reads manifests along the search path; runs no plugin code.

load test_helper

setup() {
	common_setup
}

@test "list shows every plugin with version, tools and directory" {
	run filmeto-plugin list
	[ "$status" -eq 0 ]
	# The name column is as wide as the widest name ("Spaced Server").
	[[ "$output" == *"titlecard     1.0.0 text2image $ROOT/plugins/titlecard"* ]]
	[[ "$output" == *"pyfilmeto     1.0.0 text2text $ROOT/tests/plugins/pyfilmeto"* ]]
	[[ "$output" == *"Spaced Server 1.0.0 text2image $ROOT/tests/plugins/spaced"* ]]
}

@test "list --json is one JSON array" {
	filmeto-plugin list --json > out
	[ "$(jget out '{"pyfilmeto", "titlecard", "noop"} <= set(p["name"] for p in lines[0])')" = true ]
}

@test "info shows the parameters table; --json the normalized manifest" {
	run filmeto-plugin info titlecard
	[ "$status" -eq 0 ]
	[[ "$output" == *"tool text2image"* ]]
	[[ "$output" =~ width\ +integer\ +optional\ +1280\ +64..4096 ]]
	filmeto-plugin info --json pyfilmeto > out
	[ "$(jget out 'lines[0]["command"]')" = '["python3", "main.py"]' ]
	[ "$(jget out '[t["name"] for t in lines[0]["tools"]]')" = '["text2text"]' ]
	[ "$(jget out '[p["name"] for p in lines[0]["tools"][0]["parameters"]][:2]')" = '["text", "repeat"]' ]
}

@test "a manifest with a YAML error: info names the file and line" {
	export FILMETO_PLUGIN_PATH="$BAD_PLUGINS"
	run filmeto-plugin info badyaml
	[ "$status" -eq 2 ]
	[[ "$output" == *"$BAD_PLUGINS/badyaml/plugin.yaml:7:"* ]]
	run filmeto-plugin list
	[ "$status" -eq 0 ]
	[[ "$output" == *"badyaml/plugin.yaml:7:"* ]]
	[[ "$output" == *"early-exit 1.0.0 text2text"* ]]
}

@test "a manifest with a bad parameter type names the file and line" {
	run filmeto-plugin validate "$BAD_PLUGINS/badparam"
	[ "$status" -eq 2 ]
	[[ "$output" == *"badparam/plugin.yaml:6: text2text.parameters.text.type: 'strng' is not one of"* ]]
	run filmeto-plugin validate "$ROOT/plugins/titlecard"
	[ "$status" -eq 0 ]
	[[ "$output" == *"valid (titlecard 1.0.0)"* ]]
}

@test "the plugin search path: FILMETO_PLUGIN_PATH, then XDG_DATA_HOME, then the build tree" {
	export FILMETO_PLUGIN_PATH="/a:/b"
	run filmeto-plugin path
	[ "${lines[0]}" = /a ]
	[ "${lines[1]}" = /b ]
	[ "${lines[2]}" = "$XDG_DATA_HOME/filmeto/plugins" ]
	[ "${lines[3]}" = "$ROOT/plugins" ]
	run filmeto-plugin path --json
	[ "$(jget <(echo "$output") 'lines[0][:4]')" = "[\"/a\", \"/b\", \"$XDG_DATA_HOME/filmeto/plugins\", \"$ROOT/plugins\"]" ]
}

@test "a plugin earlier on the path shadows one of the same name" {
	mkdir -p "$XDG_DATA_HOME/filmeto/plugins/titlecard"
	printf 'name: titlecard\nversion: 9.9.9\ntools: [text2image]\n' > "$XDG_DATA_HOME/filmeto/plugins/titlecard/plugin.yaml"
	run filmeto-plugin list
	[[ "$output" =~ titlecard\ +9.9.9 ]]
	[[ ! "$output" =~ titlecard\ +1.0.0 ]]
}

@test "info on an unknown plugin is status 1; usage errors are status 2" {
	run filmeto-plugin info nosuch
	[ "$status" -eq 1 ]
	run filmeto-plugin
	[ "$status" -eq 2 ]
	run filmeto-plugin frobnicate
	[ "$status" -eq 2 ]
	[[ "$output" == *"unknown command 'frobnicate': use list, info, "* ]]
	run filmeto-plugin isntall x
	[ "$status" -eq 2 ]
	[[ "$output" == *"unknown command 'isntall': did you mean 'install'?"* ]]
	run filmeto-plugin info titlecrad
	[ "$status" -eq 1 ]
	[[ "$output" == *"no plugin named 'titlecrad': did you mean 'titlecard'?"* ]]
	run filmeto-plugin info
	[ "$status" -eq 2 ]
	run filmeto-plugin --version
	[[ "${lines[0]}" == "filmeto-plugin 0.1.0 (git "*")" ]]
	[[ "${lines[1]}" == "libcurl "*"; json-c "*"; libarchive "* ]]
}

@test "no command loads the media libraries: only combine's helper does" {
	local cmd
	# libavformat, libavcodec and libavfilter pull in some 170 more libraries:
	# 0.1 s at every start of a command that never touches a film.
	# filmeto-serve neither: it queues and answers; libevent is its alone.
	for cmd in filmeto-submit filmeto-watch filmeto-plugin filmeto-serve filmeto-run; do
		run readelf -d "$(command -v $cmd)"
		[ "$status" -eq 0 ]
		[[ "$output" == *"libjson-c"* ]]
		[[ "$output" != *"libavformat"* && "$output" != *"libavcodec"* && "$output" != *"libavfilter"* ]]
		if [ "$cmd" = filmeto-serve ]; then
			[[ "$output" == *"libevent"* ]]
		else
			[[ "$output" != *"libevent"* ]]
		fi
	done
	run readelf -d "$ROOT/cmd/filmeto-combine"
	[[ "$output" == *"libavformat"* ]]
	[[ "$output" != *"libevent"* ]]
	# filmeto-submit still checks the built-in combine tool's parameters.
	run filmeto-submit --json - <<<'{"task_id":"f","tool_name":"combine","parameters":{"scenes":[]}}'
	[ "$status" -eq 2 ]
	[[ "$output" == *"scenes: needs 1 to 1000 scenes, not 0"* ]]
}

@test "new and test: usage errors are status 2; unknown plugin 1; broken manifest 2" {
	run filmeto-plugin new x
	[ "$status" -eq 2 ]
	[[ "$output" == *"usage: filmeto-plugin new NAME --lang LANG [--dir PARENT]"* ]]
	run filmeto-plugin new x --lang rust
	[ "$status" -eq 2 ]
	run filmeto-plugin list --lang sh
	[ "$status" -eq 2 ]
	run filmeto-plugin test
	[ "$status" -eq 2 ]
	run filmeto-plugin test nosuch
	[ "$status" -eq 1 ]
	[[ "$output" == *"no plugin named 'nosuch'"* ]]
	run filmeto-plugin test "$BAD_PLUGINS/badyaml"
	[ "$status" -eq 2 ]
	[[ "$output" == *"badyaml/plugin.yaml:7:"* ]]
	run filmeto-plugin new p --lang sh --dir parent
	[ "$status" -eq 0 ]
	[ "$output" = "$BATS_TEST_TMPDIR/parent/p" ]
	run filmeto-plugin test parent/p
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "ok "* ]]
}

@test "--help lists every command and option" {
	run filmeto-plugin --help
	[ "$status" -eq 0 ]
	for w in "list [--json | --names]" "info [--json] NAME" "tools [--json]" "validate DIR" path \
		"install [--force] SRC" "remove NAME" "new NAME --lang LANG [--dir PARENT]" \
		"test NAME|DIR"; do
		[[ "$output" == *"filmeto-plugin $w"* ]] || { echo "missing $w"; false; }
	done
}

@test "tools marks the default config.yaml chooses" {
	mkdir -p "$XDG_CONFIG_HOME/filmeto"
	run filmeto-plugin tools
	# No choice: the bundled outline, though chaos comes first on the path.
	[[ "$output" =~ text2text\ +chaos,\ .*pyfilmeto,.*outline\* ]]
	printf 'defaults: {text2text: pyfilmeto}\n' > "$XDG_CONFIG_HOME/filmeto/config.yaml"
	run filmeto-plugin tools
	[[ "$output" == *"pyfilmeto*"* ]]
	[[ "$output" != *"chaos*"* ]]
}

@test "info: a long parameter name widens its column, the others stay aligned" {
	mkdir -p p/long
	printf '%s\n' 'name: long' 'abilities:' '  - name: text2image' '    parameters:' \
		'      - {name: prompt, type: string}' '      - {name: negative_prompt_text, type: string}' \
		'command: ["true"]' > p/long/plugin.yml
	export FILMETO_PLUGIN_PATH="$BATS_TEST_TMPDIR/p"
	run filmeto-plugin info long
	[ "$status" -eq 0 ]
	# TYPE starts in the same column on every row.
	[ "$(printf '%s\n' "$output" | grep -E '^    (PARAMETER|prompt|negative_prompt_text) ' |
		awk '{print index($0, $2)}' | sort -u | wc -l)" -eq 1 ]
}

@test "config: the config file, paths and defaults in use, and where each came from" {
	run filmeto-plugin config
	[ "$status" -eq 0 ]
	[[ "$output" == *"config       $XDG_CONFIG_HOME/filmeto/config.yaml (not there: built-in defaults)"* ]]
	mkdir -p "$XDG_CONFIG_HOME/filmeto"
	printf 'python: /usr/bin/python3\ndefaults: {text2text: pyfilmeto}\n' > "$XDG_CONFIG_HOME/filmeto/config.yaml"
	export FILMETO_SPOOL="$BATS_TEST_TMPDIR/myspool" FILMETO_PLUGIN_PATH="/a:$ROOT/tests/plugins"
	run filmeto-plugin config
	[ "$status" -eq 0 ]
	[[ "$output" == *"config       $XDG_CONFIG_HOME/filmeto/config.yaml (\$XDG_CONFIG_HOME)"* ]]
	[[ "$output" == *"spool        $BATS_TEST_TMPDIR/myspool (\$FILMETO_SPOOL)"* ]]
	[[ "$output" == *"python       /usr/bin/python3 (config.yaml python:)"* ]]
	[[ "$output" == *"plugin_path  /a (\$FILMETO_PLUGIN_PATH first)"* ]]
	[[ "$output" == *"default      text2text: pyfilmeto (config.yaml defaults:)"* ]]
	run filmeto-plugin config --json
	echo "$output" > c.json
	[ "$(jget c.json 'lines[0]["cache"]["value"]')" = "$XDG_CACHE_HOME/filmeto" ]
	[ "$(jget c.json 'lines[0]["plugin_path"][:2]')" = "[\"/a\", \"$ROOT/tests/plugins\"]" ]
	[ "$(jget c.json 'lines[0]["defaults"]')" = '{"text2text": "pyfilmeto"}' ]
	# A config in error: said, and status 2.
	printf 'defaults: [oops\n' > "$XDG_CONFIG_HOME/filmeto/config.yaml"
	run --separate-stderr filmeto-plugin config
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"config.yaml:"* ]]
}

@test "config.yaml: an unknown key is an error, with the key it is likely a slip for" {
	mkdir -p "$XDG_CONFIG_HOME/filmeto"
	printf 'film:\n  fps: 12\ndefualts:\n  text2text: pyfilmeto\n' > "$XDG_CONFIG_HOME/filmeto/config.yaml"
	run --separate-stderr filmeto-submit -t text2text -p text=x
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"config.yaml:4: unknown key 'defualts': did you mean 'defaults'?"* ]]
	printf 'film:\n  fps: 12\n  widht: 640\n' > "$XDG_CONFIG_HOME/filmeto/config.yaml"
	run --separate-stderr filmeto-run -d out < /dev/null
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"unknown key 'film.widht': did you mean 'film.width'?"* ]]
	printf 'colour: always\n' > "$XDG_CONFIG_HOME/filmeto/config.yaml"
	# tools still lists, without the config's defaults, and says why.
	run --separate-stderr filmeto-plugin tools
	[[ "$stderr" == *"unknown key 'colour' (known: defaults, film, plugins, python, slurm)"* ]]
}

@test "list, info and validate keep a manifest's control characters and escape sequences off the terminal" {
	mkdir -p plugins/evil
	# A description, a version and a command argument that clear the
	# screen, set the window title and break the line.
	printf '%s\n' 'name: evil' 'version: "1.0\e[2J"' \
		'description: "ok\e]0;owned\a\nline two\tand\e[31m red"' \
		'command: ["./main", "--x\e[H"]' 'tools: [{name: noop}]' > plugins/evil/plugin.yaml
	export FILMETO_PLUGIN_PATH="$BATS_TEST_TMPDIR/plugins"
	for cmd in "list" "info evil" "validate plugins/evil"; do
		run filmeto-plugin $cmd
		[ "$status" -eq 0 ]
		[[ "$output" != *$'\e'* ]] && [[ "$output" != *$'\a'* ]]
		[[ "$output" == *evil* ]]
	done
	run filmeto-plugin info evil
	# One line each, the replaced characters marked where they were.
	[[ "${lines[1]}" == *"ok"*"line two and"*"red" ]]
	[[ "${lines[0]}" == "evil 1.0"$'\xef\xbf\xbd'* ]]
	# --json stays exact: it is for programs, which get the text as written.
	filmeto-plugin info --json evil > out
	[ "$(jget out 'lines[0]["description"]')" = "$(printf 'ok\e]0;owned\a\nline two\tand\e[31m red')" ]
}
