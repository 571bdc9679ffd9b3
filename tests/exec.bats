#!/usr/bin/env bats
# filmeto-run as an executor: parallelism, the DAG, scarce resources,
# heartbeats, cancellation, the output cache and remote inputs.

load test_helper

setup() {
	common_setup
	private_plugins
}

teardown() {
	stop_fakes
}

# slow ID [DELAY] [more members]: pyfilmeto's text2text of DELAY seconds (1).
slow() { task "$1" pyfilmeto text2text "{\"text\":\"$1\",\"mode\":\"slow\",\"delay\":${2:-1}}" "${3:-}"; }
order() { jget events "[l['task_id'] for l in by('$1')]"; }
# live [filmeto-run options]: filmeto-run in the background reading task
# lines written to fd $feed, its events in ./events, its pid in $pid.
live() {
	mkfifo in
	filmeto-run "$@" < in > events &
	pid=$!
	exec {feed}> in
}

# taken PID SIG: no signal SIG waits for PID; one sent has reached its handler.
taken() {
	local n mask
	n=$(kill -l "$2")
	for mask in $(sed -n 's/^\(SigPnd\|ShdPnd\):\s*//p' "/proc/$1/status"); do
		(((0x$mask >> (n - 1)) & 1)) && return 1
	done
	return 0
}

@test "-j 2 runs two tasks at once; -j 1 one after the other" {
	{ slow a 1; slow b 1; } > tasks
	# Told by the order of the lines, not the clock, which a loaded
	# machine stretches: both start before either ends, or one by one.
	filmeto-run -j 2 --no-cache -d out tasks > events
	[ "$(jget events '[l["type"] for l in lines if l["type"] in ("started", "completed")]')" = \
		'["started", "started", "completed", "completed"]' ]
	filmeto-run -j 1 --no-cache -d out1 tasks > events1
	[ "$(jget events1 '[(l["type"], l["task_id"]) for l in lines if l["type"] in ("started", "completed")]')" = \
		'[["started", "a"], ["completed", "a"], ["started", "b"], ["completed", "b"]]' ]
}

@test "a task may depend on one that comes later in the input" {
	{ echo_task b ',"depends_on":["a"]'; echo_task a; } | filmeto-run -d out > events
	[ "$(order started)" = '["a", "b"]' ]
	[ "$(order completed)" = '["a", "b"]' ]
}

@test "a chain runs in order and hands outputs along with task_output" {
	{
		task c pyfilmeto text2text '{"text":"x","mode":"resources"}' ',"resources":[{"type":"task_output","data":"b"}]'
		task b pyfilmeto text2text '{"text":"x","mode":"resources"}' ',"resources":[{"type":"task_output","data":"a#0"}]'
		echo_task a
	} | filmeto-run -d out > events
	[ "$(order completed)" = '["a", "b", "c"]' ]
	[ "$(cat out/b/out.txt)" = "$BATS_TEST_TMPDIR/out/a/out.txt" ]
	[ "$(cat out/c/out.txt)" = "$BATS_TEST_TMPDIR/out/b/out.txt" ]
}

@test "a dependency that never appears fails its dependents with VALIDATION_ERROR at end of input" {
	{ echo_task x ',"depends_on":["ghost"]'; echo_task y; } | { run filmeto-run -d out; echo "$output" > events; [ "$status" -eq 1 ]; }
	[ "$(jget events 'by("failed")[0]["task_id"]')" = x ]
	[ "$(jget events 'by("failed")[0]["error"]["code"]')" = VALIDATION_ERROR ]
	[ "$(jget events 'by("failed")[0]["error"]["details"]["missing_task"]')" = ghost ]
	[ "$(order completed)" = '["y"]' ]
}

@test "a cycle fails its tasks as soon as it closes; what hangs off it fails too" {
	live -d out
	{ echo_task a ',"depends_on":["b"]'; echo_task c ',"depends_on":["a"]'; echo_task b ',"depends_on":["a"]'; } >&"$feed"
	# Input is still open: the failures must already be out.
	for _ in $(seq 50); do [ "$(grep -c '"failed"' events)" -ge 3 ] && break; sleep 0.1; done
	[ "$(grep -c '"failed"' events)" -eq 3 ]
	exec {feed}>&-
	wait "$pid" || true
	[ "$(jget events 'sorted(l["task_id"] for l in by("failed") if l["error"]["code"] == "VALIDATION_ERROR")')" = '["a", "b"]' ]
	[[ "$(jget events 'by("failed")[0]["error"]["details"]["cycle"]')" == *"-> a"* ]]
	[ "$(jget events '[l["task_id"] for l in by("failed") if l["error"]["code"] == "DEPENDENCY_FAILED"]')" = '["c"]' ]
}

@test "a task id used twice: the second line fails" {
	{ echo_task d; echo_task d; } | { run filmeto-run -d out; echo "$output" > events; [ "$status" -eq 1 ]; }
	[ "$(order completed)" = '["d"]' ]
	[[ "$(jget events 'by("failed")[0]["error"]["message"]')" == *"already taken"* ]]
}

@test "--limit admits scarce tasks one at a time in order; others are not held up" {
	{
		task g1 gpu render '{"text":"g1","mode":"slow","delay":0.6}'
		task g2 gpu render '{"text":"g2","mode":"slow","delay":0.6}'
		task g3 gpu render '{"text":"g3","mode":"slow","delay":0.6}'
		echo_task free
	} > tasks
	filmeto-run -j 4 --limit gpu=1 -d out tasks > events
	[ "$(jget events 'len(by("completed"))')" = 4 ]
	# The GPU tasks never overlap: each starts after the previous ended.
	[ "$(jget events '[l["task_id"] for l in lines if l["type"] in ("started","completed") and l["task_id"].startswith("g")]')" = '["g1", "g1", "g2", "g2", "g3", "g3"]' ]
	# The task needing nothing scarce ran while g1 held the GPU.
	[ "$(jget events '[l["task_id"] for l in by("completed")].index("free") < [l["task_id"] for l in by("completed")].index("g2")')" = true ]
}

@test "--queue-timeout fails a task that waits too long for resources" {
	{ task g1 gpu render '{"text":"a","mode":"slow","delay":2}'; task g2 gpu render '{"text":"b"}'; } > tasks
	run --separate-stderr filmeto-run -j 2 --limit gpu=1 --queue-timeout 0.5 -d out tasks
	[ "$status" -eq 1 ]
	echo "$output" > events
	[ "$(jget events 'by("failed")[0]["task_id"]')" = g2 ]
	[ "$(jget events 'by("failed")[0]["error"]["code"]')" = TIMEOUT_ERROR ]
	[ "$(order completed)" = '["g1"]' ]
}

@test "a task needing more than a limit allows fails at once" {
	task big gpu render-big '{"text":"x"}' | { run filmeto-run --limit gpu=1 -d out; echo "$output" > events; [ "$status" -eq 1 ]; }
	[ "$(jget events 'by("failed")[0]["error"]["code"]')" = VALIDATION_ERROR ]
	[ "$(jget events 'len(by("started"))')" = 0 ]
	run filmeto-run --limit gpu -d out < /dev/null
	[ "$status" -eq 2 ]
}

@test "filmeto-run writes its own heartbeat while a plugin is silent" {
	task h chaos text2text '{"mode":"hang"}' ',"timeout":1.5' | filmeto-run --heartbeat 0.3 -d out > events || true
	[ "$(jget events 'len([l for l in by("heartbeat") if l["attempt"] == 1]) >= 3')" = true ]
	task h2 chaos text2text '{"mode":"hang"}' ',"timeout":1' | filmeto-run --heartbeat 0 -d out2 > events2 || true
	[ "$(jget events2 'len(by("heartbeat"))')" = 0 ]
}

@test "SIGTERM cancels everything: one cancelled line per unfinished task, status 130" {
	{ slow r 30; slow q 30; slow w 30 ',"depends_on":["r"]'; } > tasks
	live -j 1 -d out
	cat tasks >&"$feed"
	for _ in $(seq 100); do grep -q '"started"' events && break; sleep 0.1; done
	start=$(date +%s)
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	exec {feed}>&-
	[ "$status" -eq 130 ]
	[ $(( $(date +%s) - start )) -lt 5 ]
	[ "$(jget events 'sorted(l["task_id"] for l in by("cancelled"))')" = '["q", "r", "w"]' ]
	[ "$(jget events 'sorted(set(l["error"]["code"] for l in by("cancelled")))')" = '["TASK_CANCELLED"]' ]
	[ "$(jget events 'len(by("completed")) + len(by("failed"))')" = 0 ]
	[ "$(plugin_procs)" -eq 0 ]
}

@test "a plugin that ignores cancel is killed after --grace; a second SIGINT skips the wait" {
	live --grace 30 -d out
	task t chaos text2text '{"mode":"ignoreterm"}' >&"$feed"
	for _ in $(seq 100); do grep -q '"progress"' events && break; sleep 0.1; done
	start=$(date +%s)
	kill -INT "$pid"
	# Two signals sent while neither was taken would count as one.
	wait_for taken "$pid" INT
	kill -INT "$pid"
	status=0
	wait "$pid" || status=$?
	exec {feed}>&-
	[ "$status" -eq 130 ]
	[ $(( $(date +%s) - start )) -lt 5 ]
	[ "$(order cancelled)" = '["t"]' ]
	[ "$(plugin_procs)" -eq 0 ]
}

@test "a cancel line cancels that one task; the others go on" {
	live -j 2 -d out
	{ slow long 30; echo_task other; } >&"$feed"
	for _ in $(seq 100); do grep -q '"task_id":"long".*"progress"\|"progress".*"task_id":"long"' events && break; sleep 0.1; done
	echo '{"type":"cancel","task_id":"long"}' >&"$feed"
	exec {feed}>&-
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq 1 ]
	[ "$(order cancelled)" = '["long"]' ]
	[ "$(order completed)" = '["other"]' ]
	! grep -q '"type":"cancel"' events
}

@test "a plugin that answers cancel with method not found is stopped at once, not after --grace" {
	# As the Filmeto project's plugins do: -32601 with id null, and work on.
	live --grace 30 -d out
	task long nocancel text2text '{"delay":60}' >&"$feed"
	wait_for grep -q '"task_id":"long".*"progress"\|"progress".*"task_id":"long"' events
	start=$(date +%s%N)
	echo '{"type":"cancel","task_id":"long"}' >&"$feed"
	exec {feed}>&-
	status=0
	wait "$pid" || status=$?
	took=$(( ($(date +%s%N) - start) / 1000000 ))
	[ "$status" -eq 1 ]
	[ "$(order cancelled)" = '["long"]' ]
	[ "$took" -lt 2000 ]
	[ "$(plugin_procs)" -eq 0 ]
}

@test "a plugin that answers shutdown with method not found and stays is stopped at once" {
	# Its input has ended, but something of it lives on (a heartbeat loop):
	# SIGTERM comes at the refusal, not FM_SHUTDOWN_GRACE (2 s) later.
	task t nocancel text2text "{\"delay\":0,\"linger\":\"$PWD/linger\"}" > tasks
	filmeto-run --no-cache -d out tasks > events
	[ "$(order completed)" = '["t"]' ]
	grep -q '^term ' linger
	waited=$(awk '$1 == "eof" {e = $2} $1 == "term" {t = $2} END {printf "%d", (t - e) * 1000}' linger)
	[ "$waited" -lt 1000 ]
	[ "$(plugin_procs)" -eq 0 ]
}

@test "a task carries its tool as tool, for the Filmeto project's older plugins" {
	task t nocancel text2text '{"delay":0}' > tasks
	filmeto-run --no-cache -d out tasks > events
	[ "$(jget events 'by("completed")[0]["metadata"]["tool"]')" = text2text ]
}

@test "the output cache answers a repeated task without running a plugin" {
	filmeto-submit -t text2image -p prompt=cached -p width=64 -p height=64 -i one | filmeto-run -d out > events1
	filmeto-submit -t text2image -p prompt=cached -p width=64 -p height=64 -i two | filmeto-run -d out > events2
	[ "$(jget events2 'by("completed")[0]["metadata"]["cached"]')" = true ]
	[ "$(jget events2 'len(by("started"))')" = 0 ]
	cmp out/one/card.png out/two/card.png
	filmeto-submit -t text2image -p prompt=cached -p width=64 -p height=64 -i three | filmeto-run --no-cache -d out > events3
	[ "$(jget events3 'len(by("started"))')" = 1 ]
	# A different parameter is a different key.
	filmeto-submit -t text2image -p prompt=cached -p width=65 -p height=64 -i four | filmeto-run -d out > events4
	[ "$(jget events4 'len(by("started"))')" = 1 ]
}

@test "a remote_url resource is downloaded over loopback HTTP once, then reused" {
	serve www
	echo "remote bytes" > www/input.txt
	url="$URL/input.txt"
	for id in r1 r2; do
		task "$id" pyfilmeto text2text '{"text":"x","mode":"resources"}' ",\"resources\":[{\"type\":\"remote_url\",\"data\":\"$url\"}]"
	done | filmeto-run -j 1 --no-cache -d out > events
	[ "$(jget events 'len(by("completed"))')" = 2 ]
	[ "$(cat "$(cat out/r1/out.txt)")" = "remote bytes" ]
	[ "$(cat "$(cat out/r2/out.txt)")" = "remote bytes" ]
	[ "$(grep -c input.txt www/requests.log)" -eq 1 ]
}

@test "a remote_url that fails is RESOURCE_PROCESSING_ERROR, and so is bad base64" {
	serve www
	{
		task nf pyfilmeto text2text '{"text":"x"}' ",\"resources\":[{\"type\":\"remote_url\",\"data\":\"$URL/missing.png\"}]"
		task ftp pyfilmeto text2text '{"text":"x"}' ',"resources":[{"type":"remote_url","data":"ftp://127.0.0.1/x"}]'
		task b64 pyfilmeto text2text '{"text":"x"}' ',"resources":[{"type":"base64","data":"!!!not base64!!!"}]'
		task lp pyfilmeto text2text '{"text":"x"}' ',"resources":[{"type":"local_path","data":"/nonexistent/file"}]'
	} | { run filmeto-run -d out; echo "$output" > events; [ "$status" -eq 1 ]; }
	[ "$(jget events 'sorted(set(l["error"]["code"] for l in by("failed")))')" = '["RESOURCE_PROCESSING_ERROR"]' ]
	[ "$(jget events 'len(by("failed"))')" = 4 ]
	[[ "$(jget events '[l for l in by("failed") if l["task_id"] == "nf"][0]["error"]["message"]')" == *404* ]]
	[ -z "$(find out -name '*.tmp')" ]
}

@test "a manifest's concurrency lets one process take several tasks" {
	sed -i 's/^name: pyfilmeto$/name: pyfilmeto\nconcurrency: 4/' "$BATS_TEST_TMPDIR/plugins/pyfilmeto/plugin.yml"
	{ echo_task k1; echo_task k2; echo_task k3; echo_task k4; } | filmeto-run -j 4 --no-cache -d out > events
	[ "$(jget events 'len(by("completed"))')" = 4 ]
	[ "$(jget events 'len([l for l in by("log") if "starting" in l["message"]])')" = 1 ]
	# Without it, -j 4 means up to four processes.
	sed -i '/^concurrency: 4$/d' "$BATS_TEST_TMPDIR/plugins/pyfilmeto/plugin.yml"
	{ slow m1 0.5; slow m2 0.5; slow m3 0.5; slow m4 0.5; } | filmeto-run -j 4 --no-cache -d out2 > events2
	[ "$(jget events2 'len([l for l in by("log") if "starting" in l["message"]])')" = 4 ]
}

@test "a plugin that never says ready fails after startup.timeout" {
	private_plugins "$BAD_PLUGINS"
	start=$(date +%s)
	echo '{"type":"task","task_id":"s","tool_name":"text2text","plugin_name":"slowstart"}' \
		| { run filmeto-run -d out; echo "$output" > events; [ "$status" -eq 1 ]; }
	[ $(( $(date +%s) - start )) -lt 6 ]
	[ "$(jget events 'by("failed")[0]["error"]["code"]')" = PLUGIN_EXECUTION_ERROR ]
	[[ "$(jget events 'by("failed")[0]["error"]["message"]')" == *"no ready notification within 1s"* ]]
	[ "$(plugin_procs)" -eq 0 ]
}

@test "what a plugin logs just before it answers is the task's, however the two pipes are read" {
	# A plugin that logs a line on stderr and answers on stdout back to
	# back: both are in their pipes when the executor wakes.
	mkdir -p plugins/logthenanswer
	cat > plugins/logthenanswer/plugin.yaml <<'EOF2'
name: logthenanswer
version: 1.0.0
command: ["python3", "main.py"]
tools: [{name: lognote}]
EOF2
	cat > plugins/logthenanswer/main.py <<'EOF2'
import json, os, sys
os.write(1, b'{"jsonrpc":"2.0","method":"ready","params":{"name":"logthenanswer"}}\n')
for line in sys.stdin:
    msg = json.loads(line)
    if msg.get("method") != "execute_task":
        continue
    tid = msg["params"]["task_id"]
    os.write(2, ("note for %s\n" % tid).encode())
    os.write(1, json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": {"task_id": tid, "status": "success", "output_files": []}}).encode() + b"\n")
EOF2
	export FILMETO_PLUGIN_PATH="$BATS_TEST_TMPDIR/plugins"
	for i in $(seq 60); do
		printf '{"type":"task","task_id":"t%d","tool_name":"lognote","plugin_name":"logthenanswer"}\n' "$i"
	done | filmeto-run -j 1 --no-cache -d out > events
	[ "$(jget events 'len(by("completed"))')" = 60 ]
	[ "$(jget events 'sorted(l["task_id"] for l in by("log") if l["message"] == "note for " + l["task_id"]) == sorted("t%d" % i for i in range(1, 61))')" = true ]
}
