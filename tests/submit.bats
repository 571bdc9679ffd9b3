#!/usr/bin/env bats
# filmeto-submit: one task line, typed and validated by the manifest.

load test_helper

setup() {
	common_setup
}

@test "prints one task line with values typed by the manifest" {
	run filmeto-submit -t text2image -p prompt='a lighthouse' -p width=640 -p font_size=0 -i t1 --timeout 30
	[ "$status" -eq 0 ]
	echo "$output" > line
	[ "$(wc -l < line)" -eq 1 ]
	[ "$(jget line 'lines[0]["type"]')" = task ]
	[ "$(jget line 'lines[0]["task_id"]')" = t1 ]
	[ "$(jget line 'lines[0]["plugin_name"]')" = titlecard ]
	[ "$(jget line 'lines[0]["parameters"]')" = '{"prompt": "a lighthouse", "width": 640, "font_size": 0}' ]
	[ "$(jget line 'lines[0]["timeout"]')" = 30.0 ]
}

@test "integers, numbers, booleans and JSON arrays are typed" {
	run filmeto-submit -t text2text -P pyfilmeto -p text=hi -p repeat=4 -p delay=0.25 -p flags='["a",1]' -p loud=true
	[ "$status" -eq 0 ]
	echo "$output" > line
	[ "$(jget line 'lines[0]["parameters"]["repeat"]')" = 4 ]
	[ "$(jget line 'lines[0]["parameters"]["delay"]')" = 0.25 ]
	[ "$(jget line 'lines[0]["parameters"]["flags"]')" = '["a", 1]' ]
	[ "$(jget line 'lines[0]["parameters"]["loud"]')" = true ]
}

@test "every parameter error is reported at once, naming task, parameter and rule; nothing on stdout" {
	run --separate-stderr filmeto-submit -t text2image -i bad -p width=9000 -p height=abc -p style=fancy -p colour=red
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ "$stderr" == *"task 'bad': parameter 'width': 9000 is above max 4096 (rule: max)"* ]]
	[[ "$stderr" == *"parameter 'height': 'abc' is not an integer (rule: type)"* ]]
	[[ "$stderr" == *"parameter 'style'"*"(rule: enum)"* ]]
	[[ "$stderr" == *"parameter 'colour': not a parameter of text2image: did you mean 'color'?"*"(rule: unknown)"* ]]
	[[ "$stderr" == *"parameter 'prompt': is required but missing (rule: required)"* ]]
	[ "$(grep -c 'rule:' <<< "$stderr")" -eq 5 ]
}

@test "a parameter far from every name gets no suggestion, only the list" {
	run --separate-stderr filmeto-submit -t text2image -p prompt=x -p zzz=1
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"parameter 'zzz': not a parameter of text2image (it takes: prompt, "* ]]
	[[ "$stderr" != *"did you mean"* ]]
}

@test "a value below min is caught" {
	run filmeto-submit -t text2image -p prompt=x -p width=10
	[ "$status" -eq 2 ]
	[[ "$output" == *"10 is below min 64 (rule: min)"* ]]
}

@test "a misspelt tool or plugin gets the name it is likely a slip for" {
	run --separate-stderr filmeto-submit -t text2imag -p prompt=x
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"no plugin serves tool 'text2imag': did you mean 'text2image'?"* ]]
	run --separate-stderr filmeto-submit -t text2image -P titlecrad -p prompt=x
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"no plugin named 'titlecrad': did you mean 'titlecard'?"* ]]
	run --separate-stderr filmeto-submit -t text2nothing -p prompt=x
	[[ "$stderr" != *"did you mean"* ]]
}

@test "an unknown tool or plugin is PLUGIN_NOT_FOUND with status 2" {
	run --separate-stderr filmeto-submit -t text2nothing -p prompt=x
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ "$stderr" == *PLUGIN_NOT_FOUND*text2nothing* ]]
	run filmeto-submit -t text2image -P nosuch -p prompt=x
	[ "$status" -eq 2 ]
	[[ "$output" == *"no plugin named 'nosuch'"* ]]
	run filmeto-submit -t text2image -P pyfilmeto -p prompt=x
	[ "$status" -eq 2 ]
	[[ "$output" == *"does not serve tool 'text2image'"* ]]
}

@test "resources: paths become absolute and must exist, URLs stay URLs" {
	echo data > in.txt
	run filmeto-submit -t text2text -P pyfilmeto -p text=x -r in.txt -r https://example.invalid/a.png
	[ "$status" -eq 0 ]
	echo "$output" > line
	[ "$(jget line 'lines[0]["resources"][0]["type"]')" = local_path ]
	[ "$(jget line 'lines[0]["resources"][0]["data"]')" = "$BATS_TEST_TMPDIR/in.txt" ]
	[ "$(jget line 'lines[0]["resources"][1]["type"]')" = remote_url ]
	run filmeto-submit -t text2text -P pyfilmeto -p text=x -r nothere.png
	[ "$status" -eq 2 ]
	[[ "$output" == *"resource 'nothere.png': no such file"* ]]
}

@test "task ids are generated unique and checked when given" {
	a=$(filmeto-submit -t text2image -p prompt=x)
	b=$(filmeto-submit -t text2image -p prompt=x)
	[ "$a" != "$b" ]
	echo "$a" > line
	[[ "$(jget line 'lines[0]["task_id"]')" =~ ^text2image-[0-9a-f]{8}$ ]]
	run filmeto-submit -t text2image -p prompt=x -i ../etc
	[ "$status" -eq 2 ]
	run filmeto-submit -t text2image -p prompt=x --timeout -1
	[ "$status" -eq 2 ]
}

@test "usage errors: no tool, a stray argument, KEY without =" {
	run filmeto-submit
	[ "$status" -eq 2 ]
	[[ "$output" == *"-t TOOL"* ]]
	run filmeto-submit -t text2image stray
	[ "$status" -eq 2 ]
	run filmeto-submit -t text2image -p prompt
	[ "$status" -eq 2 ]
	[[ "$output" == *"expected KEY=VALUE"* ]]
}

@test "--help and --version" {
	run filmeto-submit --help
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "usage: filmeto-submit -t TOOL"* ]]
	run filmeto-submit --version
	[[ "${lines[0]}" == "filmeto-submit 0.1.0 (git "*")" ]]
}

@test "messages quoting what was given never carry its escape sequences to stderr" {
	run --separate-stderr filmeto-submit -t $'text\e[2J\e]0;pwned\aimage' -p $'prompt=x'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"text��image"* ]]
	printf '%s' "$stderr" > err
	run ! grep -qP '[\x00-\x09\x0b-\x1f\x7f]' err
	run ! grep -qF pwned err
	run --separate-stderr filmeto-submit --storyboard $'board\e[31m\xc2\x85.yaml'
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"cannot open 'board��.yaml'"* ]]
}

# full CMD...: CMD with stdout on /dev/full; $status and $stderr set.
full() {
	run --separate-stderr bash -c '"$@" > /dev/full' _ "$@"
}

@test "standard output that cannot be written is said once and is status 1, in every mode" {
	local said='filmeto-submit: cannot write to standard output: No space left on device'
	printf 'scenes:\n  - prompt: a lighthouse\n' > board.yaml
	filmeto-submit -t text2image -i j1 -p prompt=x > tasks.ndjson
	echo '{"type":"completed","task_id":"up","output_files":["/tmp/a.png"]}' > done.ndjson
	full filmeto-submit -t text2image -p prompt=x
	[ "$status" -eq 1 ]
	[ "$stderr" = "$said" ]
	full filmeto-submit --storyboard board.yaml
	[ "$status" -eq 1 ]
	[ "$stderr" = "$said" ]
	full filmeto-submit --json tasks.ndjson
	[ "$status" -eq 1 ]
	[ "$stderr" = "$said" ]
	full filmeto-submit --storyboard board.yaml --dry-run
	[ "$status" -eq 1 ]
	[ "$stderr" = "$said" ]
	full filmeto-submit --list-presets
	[ "$status" -eq 1 ]
	[ "$stderr" = "$said" ]
	# --each: its copy and its tasks, and it stops reading
	full sh -c 'filmeto-submit --each -t text2text -P pyfilmeto -p text=x < done.ndjson'
	[ "$status" -eq 1 ]
	[ "$stderr" = "$said" ]
	# queued all the same; the ids could not be said
	full filmeto-submit --queue --json tasks.ndjson
	[ "$status" -eq 1 ]
	[ "$stderr" = "$said" ]
	filmeto-watch --status j1 > st || [ $? -eq 3 ]
	[ "$(jget st 'lines[0]["state"]')" = queued ]
	full filmeto-submit --cancel j1
	[ "$status" -eq 1 ]
	[ "$stderr" = "$said" ]
}

@test "no task line over the 4 MiB line limit: --each, -p @FILE, --json; named, status 2, nothing printed" {
	local limit='over the 4194304 byte line limit'
	# an upstream result with 165,000 files: 4.1 MB, a line filmeto-run takes
	python3 -c 'import json; print(json.dumps({"type": "completed", "task_id": "up", "output_files": ["/tmp/o/up/f%06d.png" % i for i in range(165000)]}))' > done.ndjson
	[ "$(wc -c < done.ndjson)" -lt 4194304 ]
	run --separate-stderr sh -c 'filmeto-submit --each -t text2text -P pyfilmeto -p text=x < done.ndjson > out'
	[ "$status" -eq 2 ]
	[[ "$stderr" == "filmeto-submit: task 'up-text2text': its line would be "*" bytes, $limit" ]]
	# the upstream line went on; no task line did
	cmp out done.ndjson
	# a 1 MiB parameter that JSON escapes to 6 MiB
	head -c 1048576 /dev/zero | tr '\0' '\1' > ctrl
	run --separate-stderr filmeto-submit -t text2text -P pyfilmeto -i big -p text=@ctrl
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ "$stderr" == *"task 'big': its line would be 6291"*" bytes, $limit"* ]]
	# a --json task, printed or queued
	python3 -c 'import json; print(json.dumps({"type": "task", "task_id": "j", "tool_name": "text2text", "plugin_name": "pyfilmeto", "parameters": {"text": "x" * 4194304}}))' > big.ndjson
	run --separate-stderr filmeto-submit --json big.ndjson
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ "$stderr" == *"task 'j': its line would be "*" bytes, $limit"* ]]
	run --separate-stderr filmeto-submit --queue --json big.ndjson
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"task 'j': its line would be "*" bytes, $limit"* ]]
	[ -z "$(ls -A "$XDG_STATE_HOME/filmeto/spool/queue" 2> /dev/null)" ]
	# just under the limit is fine, and filmeto-run takes it
	python3 -c 'import json; print(json.dumps({"type": "task", "task_id": "k", "tool_name": "text2text", "plugin_name": "pyfilmeto", "parameters": {"text": "x" * 4194000}}))' > edge.ndjson
	filmeto-submit --json edge.ndjson > line
	[ "$(wc -c < line)" -le 4194305 ]
}
