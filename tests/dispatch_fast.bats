#!/usr/bin/env bats
# The executor's fast path for quick tasks (issue 21): task folders made
# ahead on a thread for a plugin that does not make its own, events that
# gather into one write yet reach a reader before the loop waits, and the
# plugin found once for a stream that names the same one again and again.

load test_helper

setup() {
	common_setup
	mkdir -p plugins/plain
	# A plugin as a user writes it without the SDK: its ready info does not
	# say creates_output_dir, so the host makes each task's folder. It
	# writes a file there; a task with a "hold" waits for that file first.
	cat > plugins/plain/plugin.yaml <<'EOF'
name: plain
version: 1.0.0
description: writes its task id into its folder
command: ["python3", "main.py"]
tools:
  - name: plainnoop
    parameters:
      - {name: hold, type: string, default: ""}
EOF
	cat > plugins/plain/main.py <<'EOF'
import json, os, sys, time

def say(o):
    sys.stdout.write(json.dumps(o) + "\n")
    sys.stdout.flush()

say({"jsonrpc": "2.0", "method": "ready", "params": {"name": "plain", "version": "1.0.0"}})
for line in sys.stdin:
    m = json.loads(line)
    if "id" not in m:
        continue
    if m.get("method") != "execute_task":
        say({"jsonrpc": "2.0", "id": m["id"], "result": {"status": "pong"}})
        continue
    p = m["params"]
    hold = p["parameters"].get("hold")
    while hold and not os.path.exists(hold):
        time.sleep(0.02)
    d = p["output_dir"]
    if os.path.isdir(d) and not os.path.islink(d):
        f = os.path.join(d, "id.txt")
        with open(f, "w") as out:
            out.write(p["task_id"])
        say({"jsonrpc": "2.0", "id": m["id"], "result": {"status": "success", "output_files": [f]}})
    else:
        say({"jsonrpc": "2.0", "id": m["id"],
             "result": {"status": "error", "error_message": "no folder " + d}})
EOF
	export FILMETO_PLUGIN_PATH="$BATS_TEST_TMPDIR/plugins:$ROOT/tests/plugins"
}

teardown() {
	[ -z "${pid:-}" ] || kill "$pid" 2> /dev/null || true
}

# plain ID [PARAMS]: a task for the plain plugin.
plain() {
	local params=${2:-}
	task "$1" plain plainnoop "${params:-"{}"}"
}
# live [filmeto-run options]: filmeto-run reading task lines written to fd
# $feed, its events in ./events, its pid in $pid.
live() {
	mkfifo in
	filmeto-run "$@" < in > events &
	pid=$!
	exec {feed}> in
}
seen() { grep -q "\"type\":\"$1\",\"task_id\":\"$2\"" events; }
done_with() { # closes the input and waits for filmeto-run
	exec {feed}>&-
	wait "$pid" || status=$?
	pid=
}

@test "every task gets its own folder, made ahead or not, with the cache off and on" {
	for i in $(seq 1 300); do plain "t$i"; done > tasks
	filmeto-run -j 2 --no-cache -d out tasks > events
	[ "$(grep -c '"completed"' events)" -eq 300 ]
	for i in 1 2 150 299 300; do [ "$(cat "out/t$i/id.txt")" = "t$i" ]; done
	[ "$(ls out | wc -l)" -eq 300 ]
	# The cache on (the default): the same tasks again, answered from it.
	filmeto-run -j 2 -d out2 tasks > events2
	filmeto-run -j 2 -d out3 tasks > events3
	[ "$(grep -c '"completed"' events2)" -eq 300 ]
	[ "$(grep -c '"cached":true' events3)" -eq 300 ]
	# Identical tasks share one cache entry: its file, in each task's folder.
	[ -f out3/t300/id.txt ] && [ -f out3/t1/id.txt ]
}

@test "a started line reaches a reader while its task is held; the events of a task keep their order" {
	live -j 2 --no-cache -d out
	plain first >&"$feed"
	wait_for seen completed first
	plain held "{\"hold\":\"$PWD/go\"}" >&"$feed"
	for i in $(seq 1 50); do plain "q$i"; done >&"$feed"
	# Written out before the loop waited, though nothing ended since.
	wait_for seen started held
	wait_for seen completed q50
	! seen completed held
	touch go
	wait_for seen completed held
	done_with
	[ "${status:-0}" -eq 0 ]
	holds events \
		'all(lines.index(one("started", t)) < lines.index(one("completed", t)) for t in ["first", "held"] + ["q%d" % i for i in range(1, 51)])' \
		'len(by("completed")) == 52'
}

# queue_behind_held N: a live run at -j 1 holding task "held" (until ./go
# exists), with N tasks w1..wN waiting behind it, the folders of the first
# 16 already made ahead.
queue_behind_held() {
	live -j 1 --no-cache -d out
	plain first >&"$feed"
	wait_for seen completed first
	plain held "{\"hold\":\"$PWD/go\"}" >&"$feed"
	wait_for seen started held
	for i in $(seq 1 "$1"); do plain "w$i"; done >&"$feed"
	wait_for test -d out/w16
}

@test "a task that never ran leaves no folder behind, though its folder was made ahead" {
	queue_behind_held 40
	for i in $(seq 1 40); do echo "{\"type\":\"cancel\",\"task_id\":\"w$i\"}"; done >&"$feed"
	wait_for seen cancelled w40
	touch go
	done_with
	holds events 'len(by("cancelled")) == 40' 'one("completed", "held")'
	for i in $(seq 1 40); do [ ! -e "out/w$i" ]; done
	[ -f out/held/id.txt ]
}

@test "a symbolic link where a task's folder goes is refused, made ahead or not" {
	mkdir elsewhere
	live -j 1 --no-cache -d out
	plain first >&"$feed"
	wait_for seen completed first
	ln -s ../elsewhere out/linked
	plain linked >&"$feed"
	plain after >&"$feed"
	wait_for seen completed after
	done_with
	[ "$(final linked '["error"]["code"]')" = PLUGIN_EXECUTION_ERROR ]
	final linked '["error"]["message"]' | grep -q 'symbolic link'
	[ -z "$(ls elsewhere)" ]
}

@test "a folder made ahead, then swapped for a link before its task runs, is refused" {
	mkdir elsewhere
	queue_behind_held 20
	# Another user who may write in out/ swaps the empty folder for a link.
	rmdir out/w16
	ln -s ../elsewhere out/w16
	touch go
	wait_for seen completed w20
	done_with
	[ "$(final w16 '["error"]["code"]')" = PLUGIN_EXECUTION_ERROR ]
	final w16 '["error"]["message"]' | grep -q "output folder '.*/out/w16' is a symbolic link; refusing to use it"
	[ -z "$(ls elsewhere)" ]
	[ -f out/w15/id.txt ]
}

@test "tasks for two plugins in turn each go to their own" {
	for i in $(seq 1 10); do
		plain "p$i"
		echo_task "e$i"
	done > tasks
	filmeto-run -j 2 --no-cache -d out tasks > events
	holds events 'len(by("completed")) == 20' \
		'all(one("completed", "p%d" % i)["metadata"]["plugin_name"] == "plain" for i in range(1, 11))' \
		'all(one("completed", "e%d" % i)["metadata"]["plugin_name"] == "pyfilmeto" for i in range(1, 11))'
}
