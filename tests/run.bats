#!/usr/bin/env bats
# filmeto-run: real plugin processes, real media, every way a task ends.

load test_helper

setup() {
	common_setup
}

py_task() { # ID MODE [extra JSON members]
	printf '{"type":"task","task_id":"%s","tool_name":"text2text","plugin_name":"pyfilmeto","parameters":{"text":"hi","mode":"%s"%s}%s}\n' \
		"$1" "$2" "${3:-}" "${4:-}"
}

@test "a titlecard task writes a real PNG whose path is in the completed line" {
	filmeto-submit -t text2image -p prompt='Hello' -p width=320 -p height=180 -i card \
		| filmeto-run -d out > events
	[ "$(jget events 'by("completed")[0]["task_id"]')" = card ]
	png=$(jget events 'by("completed")[0]["output_files"][0]')
	[ "$png" = "$BATS_TEST_TMPDIR/out/card/card.png" ]
	run ffprobe -v error -show_entries stream=codec_name,width,height -of csv=p=0 "$png"
	[ "$output" = "png,320,180" ]
	[ "$(jget events 'by("completed")[0]["output_resources"][0]["mime_type"]')" = image/png ]
	[ "$(jget events '[l["type"] for l in lines][0]')" = started ]
	[ "$(jget events 'len(by("progress")) >= 2')" = true ]
}

@test "the default output directory is ./filmeto-out" {
	filmeto-submit -t text2image -p prompt=x -p width=64 -p height=64 -i d | filmeto-run > events
	[ -s filmeto-out/d/card.png ]
}

@test "a Filmeto-style Python plugin (plugin.yml, abilities, main.py, no command) runs unchanged" {
	py_task p1 echo ',"repeat":3' | filmeto-run -d out > events
	[ "$(jget events 'by("completed")[0]["task_id"]')" = p1 ]
	[ "$(cat out/p1/out.txt)" = "$(printf 'hi\nhi\nhi')" ]
	[ "$(jget events 'len(by("progress")) >= 2')" = true ]
	[ "$(jget events 'len(by("heartbeat")) >= 1')" = true ]
	[ "$(jget events 'by("progress")[0]["percent"] <= 100')" = true ]
}

@test "a plugin stays warm between tasks" {
	{ py_task w1 echo; py_task w2 echo; py_task w3 echo; } | filmeto-run -j 1 -d out > events
	[ "$(jget events 'len(by("completed"))')" = 3 ]
	# The plugin logs one line when it starts: once for three tasks.
	[ "$(jget events 'len([l for l in by("log") if "starting" in l["message"]])')" = 1 ]
}

@test "a malformed line fails with VALIDATION_ERROR and the next line still runs" {
	{ echo '{"type":"task", this is not json'; py_task ok echo; } | {
		run filmeto-run -d out
		echo "$output" > events
		[ "$status" -eq 1 ]
	}
	[ "$(jget events 'by("failed")[0]["task_id"]')" = line-1 ]
	[ "$(jget events 'by("failed")[0]["error"]["code"]')" = VALIDATION_ERROR ]
	[ "$(jget events 'by("completed")[0]["task_id"]')" = ok ]
}

@test "a storyboard or a text file given to filmeto-run gets one line that says what to do" {
	run --separate-stderr filmeto-run -d out "$ROOT/share/filmeto/examples/hello.yaml"
	[ "$status" -eq 1 ]
	echo "$output" > events
	[ "$(jget events 'len(by("failed"))')" = 1 ]
	[[ "$(jget events 'by("failed")[0]["error"]["message"]')" == *"looks like a YAML storyboard"*"filmeto-submit --storyboard FILE | filmeto-run"* ]]
	printf 'some notes\nnot tasks at all\n\n{oops\n' > notes.txt
	run --separate-stderr filmeto-run -d out notes.txt
	[ "$status" -eq 1 ]
	echo "$output" > events
	[ "$(jget events 'len(by("failed"))')" = 1 ]
	[[ "$(jget events 'by("failed")[0]["error"]["message"]')" == *"not JSON: filmeto-run reads task lines"* ]]
	# Once a line was JSON, every bad line is reported on its own.
	{ py_task ok echo; echo 'title: late'; echo 'nor this'; } > mixed
	run --separate-stderr filmeto-run -d out mixed
	echo "$output" > events
	[ "$(jget events 'len(by("failed"))')" = 2 ]
	[ "$(jget events 'by("completed")[0]["task_id"]')" = ok ]
}

@test "-o with no combine task in the input says no film was made and exits 1" {
	filmeto-submit -t text2image -p prompt=x -p width=64 -p height=64 -i card > tasks
	run --separate-stderr filmeto-run -d out -o film.mp4 tasks
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"-o film.mp4: no film was made: the input held no combine task"* ]]
	[ -s out/card/card.png ]
	[ ! -e film.mp4 ]
}

@test "a task line that breaks the model fails naming the task and the field" {
	echo '{"type":"task","task_id":"t9","tool_name":5}' | { run filmeto-run -d out; echo "$output" > events; [ "$status" -eq 1 ]; }
	[ "$(jget events 'by("failed")[0]["task_id"]')" = t9 ]
	[[ "$(jget events 'by("failed")[0]["error"]["message"]')" == *tool_name* ]]
}

@test "a task line over the length limit fails alone" {
	python3 -c 'import sys; sys.stdout.write("{\"type\":\"task\",\"x\":\"" + "a" * (5 << 20) + "\"}\n")' > big
	py_task after echo >> big
	run filmeto-run -d out big
	[ "$status" -eq 1 ]
	echo "$output" > events
	[ "$(jget events 'by("failed")[0]["task_id"]')" = line-1 ]
	[[ "$(jget events 'by("failed")[0]["error"]["message"]')" == *limit* ]]
	[ "$(jget events 'by("completed")[0]["task_id"]')" = after ]
}

@test "parameters are validated against the manifest before the plugin runs" {
	py_task v1 nonsense ',"repeat":0' | { run filmeto-run -d out; echo "$output" > events; [ "$status" -eq 1 ]; }
	[ "$(jget events 'by("failed")[0]["error"]["code"]')" = VALIDATION_ERROR ]
	[ "$(jget events 'sorted(e["rule"] for e in by("failed")[0]["error"]["details"]["errors"])')" = '["enum", "min"]' ]
	[ "$(jget events 'len(by("started"))')" = 0 ]
}

@test "an unknown plugin or tool is PLUGIN_NOT_FOUND" {
	{
		echo '{"type":"task","task_id":"a","tool_name":"text2text","plugin_name":"nosuch"}'
		echo '{"type":"task","task_id":"b","tool_name":"text2nothing"}'
	} | { run filmeto-run -d out; echo "$output" > events; [ "$status" -eq 1 ]; }
	[ "$(jget events '[l["error"]["code"] for l in by("failed")]')" = '["PLUGIN_NOT_FOUND", "PLUGIN_NOT_FOUND"]' ]
	[[ "$(jget events 'by("failed")[0]["error"]["message"]')" == *nosuch* ]]
	[[ "$(jget events 'by("failed")[1]["error"]["message"]')" == *text2nothing* ]]
}

@test "a plugin that exits before ready: PLUGIN_EXECUTION_ERROR with exit status and stderr" {
	export FILMETO_PLUGIN_PATH="$BAD_PLUGINS"
	echo '{"type":"task","task_id":"e","tool_name":"text2text","plugin_name":"early-exit"}' \
		| { run filmeto-run -d out; echo "$output" > events; [ "$status" -eq 1 ]; }
	[ "$(jget events 'by("failed")[0]["error"]["code"]')" = PLUGIN_EXECUTION_ERROR ]
	[ "$(jget events 'by("failed")[0]["error"]["details"]["exit_status"]')" = 3 ]
	[ "$(jget events 'by("failed")[0]["error"]["details"]["stderr"][-1]')" = "error: model file not found" ]
	[[ "$(jget events 'by("failed")[0]["error"]["message"]')" == *"before it was ready"* ]]
}

@test "a plugin that answers garbage: PLUGIN_EXECUTION_ERROR, and it is killed" {
	private_plugins "$BAD_PLUGINS"
	echo '{"type":"task","task_id":"g","tool_name":"text2text","plugin_name":"garbage"}' \
		| { run timeout 20 filmeto-run -d out; echo "$output" > events; [ "$status" -eq 1 ]; }
	[ "$(jget events 'by("failed")[0]["error"]["code"]')" = PLUGIN_EXECUTION_ERROR ]
	[[ "$(jget events 'by("failed")[0]["error"]["message"]')" == *"not JSON-RPC"* ]]
	[ "$(jget events 'by("failed")[0]["error"]["details"]["stderr"]')" = '["about to answer"]' ]
	[ "$(jget events 'by("failed")[0]["error"]["details"]["signal"]')" = 9 ]
	[ "$(plugin_procs)" -eq 0 ]
}

@test "a plugin that crashes mid-task fails that task; the next task gets a fresh process" {
	{ py_task c1 crash; py_task c2 echo; } | { run filmeto-run -d out; echo "$output" > events; [ "$status" -eq 1 ]; }
	[ "$(jget events 'by("failed")[0]["task_id"]')" = c1 ]
	[ "$(jget events 'by("failed")[0]["error"]["details"]["exit_status"]')" = 7 ]
	[ "$(jget events '"dying on purpose" in by("failed")[0]["error"]["details"]["stderr"]')" = true ]
	[ "$(jget events 'by("completed")[0]["task_id"]')" = c2 ]
}

@test "a result with status error is a failed line with the plugin's message" {
	py_task f1 fail | { run filmeto-run -d out; echo "$output" > events; [ "$status" -eq 1 ]; }
	[ "$(jget events 'by("failed")[0]["error"]["message"]')" = "asked to fail" ]
	[ "$(jget events 'by("failed")[0]["status"]')" = error ]
}

@test "the execution timeout is a hard cap: TIMEOUT_ERROR and the plugin is gone" {
	private_plugins
	start=$(date +%s)
	py_task slow1 slow ',"delay":20' ',"timeout":1' | { run filmeto-run -d out; echo "$output" > events; [ "$status" -eq 1 ]; }
	[ $(( $(date +%s) - start )) -lt 8 ]
	[ "$(jget events 'by("failed")[0]["error"]["code"]')" = TIMEOUT_ERROR ]
	[ "$(plugin_procs)" -eq 0 ]
}

@test "a failed dependency fails its dependent with DEPENDENCY_FAILED without running it" {
	{ py_task a fail; py_task b echo '' ',"depends_on":["a"]'; } \
		| { run filmeto-run -d out; echo "$output" > events; [ "$status" -eq 1 ]; }
	[ "$(jget events 'by("failed")[1]["task_id"]')" = b ]
	[ "$(jget events 'by("failed")[1]["error"]["code"]')" = DEPENDENCY_FAILED ]
	[ "$(jget events 'by("failed")[1]["error"]["details"]["failed_task"]')" = a ]
	[ "$(jget events '[l["task_id"] for l in by("started")]')" = '["a"]' ]
}

@test "a task_output resource hands the earlier task's file to the next task" {
	{
		filmeto-submit -t text2image -p prompt=one -p width=64 -p height=64 -i img
		echo '{"type":"task","task_id":"use","tool_name":"text2text","plugin_name":"pyfilmeto","parameters":{"text":"x","mode":"resources"},"resources":[{"type":"task_output","data":"img#0"}]}'
	} | filmeto-run -d out > events
	[ "$(cat out/use/out.txt)" = "$BATS_TEST_TMPDIR/out/img/card.png" ]
}

@test "a base64 resource reaches the plugin as a local file" {
	data=$(printf 'hello bytes' | base64)
	echo '{"type":"task","task_id":"b64","tool_name":"text2text","plugin_name":"pyfilmeto","parameters":{"text":"x","mode":"resources"},"resources":[{"type":"base64","data":"'"$data"'","mime_type":"text/plain"}]}' \
		| filmeto-run -d out > events
	f=$(cat out/b64/out.txt)
	[ "$(cat "$f")" = "hello bytes" ]
}

@test "lines that are not tasks pass through unchanged, in order" {
	{ echo '{"type":"note","text":"keep me"}'; py_task n1 echo; echo '{"type":"completed","task_id":"upstream"}'; } \
		| filmeto-run -d out > events
	# Passed through at once, byte for byte, in their own order.
	[ "$(head -n 1 events)" = '{"type":"note","text":"keep me"}' ]
	[ "$(grep -n -x '{"type":"completed","task_id":"upstream"}' events | cut -d: -f1)" -gt 1 ]
	[ "$(jget events '[l["task_id"] for l in by("completed")]')" = '["upstream", "n1"]' ]
}

@test "no plugin process outlives filmeto-run" {
	private_plugins
	{ py_task z1 echo; py_task z2 echo; } | filmeto-run -d out > events
	[ "$(plugin_procs)" -eq 0 ]
}

@test "SIGINT stops filmeto-run with 130 and takes the plugin down" {
	private_plugins
	mkfifo in
	filmeto-run -d out < in > events &
	pid=$!
	exec {feed}> in
	py_task s1 slow ',"delay":30' >&"$feed"
	for _ in $(seq 100); do grep -q heartbeat events 2>/dev/null && break; sleep 0.1; done
	kill -INT "$pid"
	status=0
	wait "$pid" || status=$?
	exec {feed}>&-
	[ "$status" -eq 130 ]
	no_plugins_left 3
}

@test "--help, --version and a bad option" {
	run filmeto-run --help
	[ "$status" -eq 0 ]
	[[ "$output" == usage:* ]]
	run filmeto-run --version
	[[ "${lines[0]}" == "filmeto-run 0.1.0 (git "*")" ]]
	[[ "${lines[1]}" == "libavformat "*"; libcurl "*"; json-c "*"; libarchive "* ]]
	# The libraries as they run: here, the ones pkg-config knows.
	[[ "${lines[1]}" == "libavformat $(pkg-config --modversion libavformat),"* ]]
	[[ "${lines[1]}" == *"; libcurl $(pkg-config --modversion libcurl);"* ]]
	[[ "${lines[1]}" == *"; json-c $(pkg-config --modversion json-c);"* ]]
	[[ "${lines[1]}" == *"; libarchive $(pkg-config --modversion libarchive)" ]]
	[ "${lines[0]}" = "filmeto-run 0.1.0 (git $(cat "$ROOT/build/revision"))" ]
	run filmeto-run --nope
	[ "$status" -eq 2 ]
}

@test "a file that does not exist is a usage error" {
	run filmeto-run -d out missing.ndjson
	[ "$status" -eq 2 ]
	[[ "$output" == *"cannot open 'missing.ndjson'"* ]]
}
