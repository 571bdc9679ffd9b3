#!/usr/bin/env bats
# The Python plugin SDK under the real filmeto-run, and filmeto-plugin new
# and test: a plugin made in each language passes its own self-test and
# runs under filmeto-run as generated.

load test_helper

SDK="$ROOT/share/filmeto/sdk/python"

setup() {
	common_setup
}

# sdk_plugin: a plugin built on the SDK, alone on the plugin path.
sdk_plugin() {
	local dir="$BATS_TEST_TMPDIR/plugins/sdkplug"
	mkdir -p "$dir"
	cp "$SDK/filmeto_plugin.py" "$dir/"
	cat > "$dir/plugin.yaml" <<'YAML'
name: sdkplug
version: 1.2.3
runtime: python
tools:
  - name: text2text
    parameters:
      - {name: text, type: string, required: true}
      - {name: mode, type: string, enum: [write, raise, error, nothing], default: write}
YAML
	cat > "$dir/main.py" <<'PY'
import os
from filmeto_plugin import BasePlugin, run

class Plugin(BasePlugin):
    name = "sdkplug"
    version = "1.2.3"

    def execute_task(self, task_data, progress_callback):
        params = task_data["parameters"]
        print("a stray print")  # must not reach the protocol stream
        if params["mode"] == "raise":
            raise ValueError("no such luck")
        if params["mode"] == "error":
            return {"status": "error", "error_message": "refused"}
        if params["mode"] == "nothing":
            return {"status": "success"}
        progress_callback(25, "a quarter", {"step": 1})
        progress_callback(75, "three quarters")
        with open(os.path.join(task_data["output_dir"], "out.txt"), "w") as f:
            f.write(params["text"] + "\n")
        return {"status": "success", "output_files": ["out.txt"]}

run(Plugin())
PY
	export FILMETO_PLUGIN_PATH="$BATS_TEST_TMPDIR/plugins"
}

sdk_task() { # ID MODE
	printf '{"type":"task","task_id":"%s","tool_name":"text2text","plugin_name":"sdkplug","parameters":{"text":"hi there","mode":"%s"}}\n' "$1" "$2"
}

# needs_cli VERB: skips until filmeto-plugin has the subcommand.
needs_cli() {
	filmeto-plugin --help 2>/dev/null | grep -q "filmeto-plugin $1" ||
		skip "filmeto-plugin $1 is not wired yet"
}

@test "an SDK plugin runs under filmeto-run: out.txt, progress, and print() kept off the protocol" {
	sdk_plugin
	sdk_task s1 write | filmeto-run -d out > events
	[ "$(jget events 'by("completed")[0]["task_id"]')" = s1 ]
	[ "$(cat out/s1/out.txt)" = "hi there" ]
	[ "$(jget events 'by("completed")[0]["output_files"][0]')" = "$BATS_TEST_TMPDIR/out/s1/out.txt" ]
	[ "$(jget events '[(p["percent"], p["message"]) for p in by("progress")][:2]')" = '[[25.0, "a quarter"], [75.0, "three quarters"]]' ]
	[ "$(jget events 'by("progress")[0]["data"]')" = '{"step": 1}' ]
	[ "$(jget events 'any("a stray print" in l["message"] for l in by("log"))')" = true ]
	[ "$(jget events 'any(l["level"] == "warning" for l in by("log"))')" = false ]
}

@test "the SDK makes output_dir before execute_task" {
	sdk_plugin
	sdk_task s2 nothing | filmeto-run -d out > events
	[ "$(jget events 'by("completed")[0]["task_id"]')" = s2 ]
	[ -d out/s2 ]
}

@test "an exception in execute_task fails the task with its message" {
	sdk_plugin
	sdk_task s3 raise | { run filmeto-run -d out; echo "$output" > events; [ "$status" -eq 1 ]; }
	[ "$(jget events 'by("failed")[0]["error"]["message"]')" = "no such luck" ]
	[ "$(jget events 'any("ValueError" in l["message"] for l in by("log"))')" = true ]
}

@test "an error result fails the task; the plugin serves the next one" {
	sdk_plugin
	{ sdk_task s4 error; sdk_task s5 write; } | { run filmeto-run -j 1 -d out; echo "$output" > events; [ "$status" -eq 1 ]; }
	[ "$(jget events 'by("failed")[0]["task_id"]')" = s4 ]
	[ "$(jget events 'by("failed")[0]["error"]["message"]')" = refused ]
	[ "$(jget events 'by("completed")[0]["task_id"]')" = s5 ]
}

@test "the SDK speaks the protocol: ready, ping, get_info, cancel, unknown methods, EOF" {
	sdk_plugin
	cat > "$BATS_TEST_TMPDIR/plugins/sdkplug/slow.py" <<'PY'
import time
from filmeto_plugin import BasePlugin, run

class Slow(BasePlugin):
    name = "slow"
    def execute_task(self, task_data, progress_callback):
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if self.cancelled():
                return {"status": "cancelled"}
            time.sleep(0.02)
        return {"status": "success"}

run(Slow())
PY
	python3 - "$BATS_TEST_TMPDIR/plugins/sdkplug" > log <<'PY'
import json, subprocess, sys
p = subprocess.Popen([sys.executable, "slow.py"], cwd=sys.argv[1], text=True,
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
def send(m):
    p.stdin.write(json.dumps(dict(m, jsonrpc="2.0")) + "\n"); p.stdin.flush()
def recv():
    return json.loads(p.stdout.readline())
ready = recv()
print("ready", ready["method"], ready["params"]["name"], ready["params"]["creates_output_dir"])
send({"id": 1, "method": "ping"}); print("ping", recv()["result"])
send({"id": 2, "method": "get_info"}); print("info", recv()["result"]["name"])
send({"id": 3, "method": "nope"}); print("nope", recv()["error"]["code"])
send({"id": 4, "method": "execute_task", "params": {"task_id": "t", "parameters": {}, "output_dir": sys.argv[1] + "/o"}})
send({"id": 5, "method": "ping"}); print("ping during a task", recv()["result"])
send({"method": "cancel", "params": {"task_id": "t"}})
r = recv()["result"]
print("result", r["status"], r["task_id"], "execution_time" in r)
p.stdin.close()
print("exit", p.wait(5))
PY
	cat log
	[ "$(sed -n 1p log)" = "ready ready slow True" ]
	[ "$(sed -n 2p log)" = "ping {'status': 'pong'}" ]
	[ "$(sed -n 3p log)" = "info slow" ]
	[ "$(sed -n 4p log)" = "nope -32601" ]
	[ "$(sed -n 5p log)" = "ping during a task {'status': 'pong'}" ]
	[ "$(sed -n 6p log)" = "result cancelled t True" ]
	[ "$(sed -n 7p log)" = "exit 0" ]
}

@test "new makes a plugin in each language that passes test and runs under filmeto-run" {
	needs_cli new
	needs_cli test
	local lang
	for lang in c python sh; do
		run filmeto-plugin new "hello-$lang" --lang "$lang"
		[ "$status" -eq 0 ]
		[ "$output" = "$BATS_TEST_TMPDIR/hello-$lang" ]
		[ -f "hello-$lang/plugin.yaml" ]
		# A C plugin is built by new itself: it passes test as generated.
		run filmeto-plugin test "$BATS_TEST_TMPDIR/hello-$lang"
		echo "$lang: $output"
		[ "$status" -eq 0 ]
		[[ "$output" == *"ok ready"* ]]
		[[ "$output" == *"ok get_info"* ]]
		[[ "$output" == *"ok ping"* ]]
		[[ "$output" == *"ok example text2text #1"* ]]
		[[ "$output" != *FAIL* ]]
	done
	export FILMETO_PLUGIN_PATH="$BATS_TEST_TMPDIR"
	for lang in c python sh; do
		printf '{"type":"task","task_id":"%s","tool_name":"text2text","plugin_name":"hello-%s","parameters":{"text":"Hi \\"you\\"","shout":true}}\n' "$lang" "$lang"
	done | filmeto-run -d out > events
	[ "$(jget events 'sorted(l["task_id"] for l in by("completed"))')" = '["c", "python", "sh"]' ]
	for lang in c python sh; do
		[ "$(cat "out/$lang/out.txt")" = 'HI "YOU"' ]
	done
	[ "$(jget events 'sorted(set(p["task_id"] for p in by("progress")))')" = '["c", "python", "sh"]' ]
}

@test "test builds a C plugin not built yet; new says when it cannot build one" {
	filmeto-plugin new cb --lang c > /dev/null
	rm cb/cb
	run --separate-stderr filmeto-plugin test "$BATS_TEST_TMPDIR/cb"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"building '$BATS_TEST_TMPDIR/cb' with make"* ]]
	[ -x cb/cb ]
	# A build that fails: the plugin is there to fix, the status says so.
	mkdir bin
	printf '#!/bin/sh\necho "no compiler here" >&2\nexit 1\n' > bin/make
	chmod +x bin/make
	PATH="$BATS_TEST_TMPDIR/bin:$PATH" run --separate-stderr filmeto-plugin new cbad --lang c
	[ "$status" -eq 1 ]
	[ "$output" = "$BATS_TEST_TMPDIR/cbad" ]
	[[ "$stderr" == *"made '$BATS_TEST_TMPDIR/cbad', but could not build it: 'make' failed"* ]]
	[[ "$stderr" == *"  no compiler here"* ]]
	[ -f cbad/cbad.c ]
}

@test "new --dir puts the plugin under PARENT; an existing directory is refused" {
	needs_cli new
	run filmeto-plugin new card --lang sh --dir plugs
	[ "$status" -eq 0 ]
	[ "$output" = "$BATS_TEST_TMPDIR/plugs/card" ]
	[ -f plugs/card/plugin.sh ]
	run filmeto-plugin new card --lang python --dir plugs
	[ "$status" -eq 2 ]
	[[ "$output" == *"already exists"* ]]
	[ ! -e plugs/card/main.py ]
	[ "$(ls -A plugs)" = card ]
	run filmeto-plugin new ../bad --lang sh
	[ "$status" -eq 2 ]
	run filmeto-plugin new good --lang cobol
	[ "$status" -eq 2 ]
	[ ! -e good ]
}

@test "test fails a plugin that exits before it is ready" {
	needs_cli test
	mkdir early
	cat > early/plugin.yaml <<'YAML'
name: early
version: 1.0.0
command: [sh, -c, 'echo no luck today >&2; exit 3']
tools:
  - name: text2text
    examples:
      - parameters: {}
YAML
	run filmeto-plugin test "$BATS_TEST_TMPDIR/early"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"FAIL ready"* ]]
	[[ "$output" == *"status 3"* ]]
	[[ "$output" == *"FAIL example text2text #1: not reached"* ]]
}

@test "test fails an example that expects success when the plugin errors" {
	needs_cli new
	needs_cli test
	filmeto-plugin new oops --lang python
	sed -i 's/text = text.upper()/raise RuntimeError("out of ink")/' oops/main.py
	sed -i 's/parameters: {text: hello}/parameters: {text: hello, shout: true}/' oops/plugin.yaml
	run filmeto-plugin test "$BATS_TEST_TMPDIR/oops"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"ok ready"* ]]
	[[ "$output" == *"FAIL example text2text #1"*"out of ink"* ]]
}
