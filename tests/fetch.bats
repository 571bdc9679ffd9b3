#!/usr/bin/env bats
# filmeto-run's inputs off its loop: downloads that trickle, stall or never
# end, and large inputs hashed for the cache key, hold up no other task and
# stay under the task's timeout, cancel and the download limit; no
# temporary file is left on any path. tests/fakes/fake_slow.py is the
# server.

load test_helper

setup() {
	common_setup
	private_plugins
}

teardown() {
	stop_fakes
	# A filmeto-run a failed test left behind must not outlive it.
	[ -z "${RUN_PID:-}" ] || kill -KILL "$RUN_PID" 2>/dev/null || true
}

# fetch_task ID URL [more members]: a task whose one input is URL.
fetch_task() {
	task "$1" pyfilmeto text2text '{"text":"x","mode":"resources"}' \
		",\"resources\":[{\"type\":\"remote_url\",\"data\":\"$2\"}]${3:-}"
}

# No temporary download anywhere: not in the outputs, not in the cache.
no_tmp() {
	local left
	left=$(find "$BATS_TEST_TMPDIR" -name '*.tmp' -not -path '*/plugins/*')
	[ -z "$left" ] || { echo "left behind: $left"; return 1; }
}

has() { grep -q "$1" "${2:-events}" 2>/dev/null; }
# wait_run [MS]: waits up to MS (default 15000) ms for filmeto-run ($RUN_PID) to
# end and sets run_status and took (ms); one that does not end is killed, and fails.
wait_run() {
	local start=$(date +%s%N)
	for _ in $(seq $(( ${1:-15000} / 50 ))); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.05; done
	took=$(( ($(date +%s%N) - start) / 1000000 ))
	if kill -0 "$RUN_PID" 2>/dev/null; then
		kill -KILL "$RUN_PID"
		wait "$RUN_PID" 2>/dev/null || true
		echo "filmeto-run did not end within ${1:-15000} ms"
		return 1
	fi
	run_status=0
	wait "$RUN_PID" || run_status=$?
}
fetching() { grep -q "\"path\": \"$1" "$FAKE_LOG" 2>/dev/null; }
# ms_between FILE EXPR1 EXPR2: milliseconds between two event timestamps.
ms_between() {
	python3 - "$@" <<'PY'
import json, sys
from datetime import datetime
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def by(t):
    return [l for l in lines if l.get("type") == t]
def ts(l):
    return datetime.fromisoformat(l["timestamp"].replace("Z", "+00:00")).timestamp()
print(int((ts(eval(sys.argv[3])) - ts(eval(sys.argv[2]))) * 1000))
PY
}

@test "a download that trickles holds up no other task, and its timeout still ends it" {
	start_fake slow
	{
		fetch_task slow "$FAKE_URL/trickle?bytes=60&every=1" ',"timeout":10'
		for i in 1 2 3 4 5; do echo_task "e$i"; done
	} > tasks
	run timeout -k 5 40 filmeto-run -j 6 --no-cache -d out tasks
	echo "$output" > events
	[ "$status" -eq 1 ]
	[ "$(jget events 'sorted(l["task_id"] for l in by("completed"))')" = '["e1", "e2", "e3", "e4", "e5"]' ]
	# The others start at once and end while the download still trickles.
	[ "$(jget events 'by("started")[0]["task_id"]')" = slow ]
	[ "$(ms_between events 'by("started")[0]' 'by("started")[-1]')" -lt 1500 ]
	[ "$(jget events '[l["type"] for l in lines if l["type"] in ("completed", "failed")][-1]')" = failed ]
	[ "$(jget events 'by("failed")[0]["error"]["code"]')" = TIMEOUT_ERROR ]
	[[ "$(jget events 'by("failed")[0]["error"]["message"]')" == *"timed out after 10s while its inputs were fetched"* ]]
	[ "$(ms_between events 'by("started")[0]' 'by("failed")[0]')" -lt 12000 ]
	no_tmp
}

@test "SIGINT during a stalled download: 130 within the grace, a cancelled line, no .tmp left" {
	start_fake slow
	mkfifo in
	filmeto-run --grace 2 -d out < in > events &
	RUN_PID=$!
	exec {feed}> in
	fetch_task stalled "$FAKE_URL/stall" >&"$feed"
	echo_task other >&"$feed"
	wait_for -t 15 fetching /stall
	wait_for -t 15 has '"completed"'
	kill -INT "$RUN_PID"
	wait_run 4000
	exec {feed}>&-
	[ "$run_status" -eq 130 ]
	[ "$(jget events '[l["task_id"] for l in by("cancelled")]')" = '["stalled"]' ]
	[ "$(jget events 'by("started")[0]["task_id"]')" = stalled ]
	[ "$(jget events 'by("cancelled")[0]["error"]["code"]')" = TASK_CANCELLED ]
	no_tmp
}

@test "a 2 s timeout on an endless chunked body is TIMEOUT_ERROR in about 2 s, without the cache too" {
	start_fake slow
	for cache in "" --no-cache; do
		start=$(date +%s%N)
		fetch_task endless "$FAKE_URL/endless?rate=1000000" ',"timeout":2' \
			| { run timeout -k 5 30 filmeto-run $cache -d "out$cache"; echo "$output" > events; [ "$status" -eq 1 ]; }
		took=$(( ($(date +%s%N) - start) / 1000000 ))
		[ "$took" -ge 2000 ]
		[ "$took" -lt 4500 ]
		[ "$(jget events 'by("failed")[0]["error"]["code"]')" = TIMEOUT_ERROR ]
		[ "$(jget events 'len(by("started"))')" = 1 ]
		no_tmp
	done
}

@test "an endless body past the download limit is a clear error; so is a body whose length is over it" {
	start_fake slow
	export FILMETO_DOWNLOAD_MAX=1000000
	{
		fetch_task endless "$FAKE_URL/endless?rate=8000000"
		fetch_task long "$FAKE_URL/file?bytes=1000001"
		fetch_task fits "$FAKE_URL/file?bytes=1000000"
	} | { run timeout -k 5 30 filmeto-run -j 3 -d out; echo "$output" > events; [ "$status" -eq 1 ]; }
	[ "$(jget events 'sorted(l["task_id"] for l in by("failed"))')" = '["endless", "long"]' ]
	[ "$(jget events 'sorted(set(l["error"]["code"] for l in by("failed")))')" = '["RESOURCE_PROCESSING_ERROR"]' ]
	for id in endless long; do
		[[ "$(jget events "[l for l in by('failed') if l['task_id'] == '$id'][0]['error']['message']")" == *"larger than the 1000000 byte limit"* ]]
	done
	[ "$(jget events 'by("completed")[0]["task_id"]')" = fits ]
	# The endless body was cut off near the limit, not read on.
	wait_for -t 15 grep -q '"end": "closed"' "$FAKE_LOG"
	[ "$(jget "$FAKE_LOG" 'max(l.get("sent", 0) for l in lines if "endless" in l["path"])')" -lt 64000000 ]
	no_tmp
}

@test "a download limit that is not a number of bytes is a clear error; a larger one does not raise it" {
	start_fake slow
	fetch_task a "$FAKE_URL/file?bytes=10" \
		| { FILMETO_DOWNLOAD_MAX=lots run filmeto-run -d out; echo "$output" > events; [ "$status" -eq 1 ]; }
	[[ "$(jget events 'by("failed")[0]["error"]["message"]')" == *"FILMETO_DOWNLOAD_MAX='lots' is not a positive number of bytes"* ]]
	fetch_task b "$FAKE_URL/file?bytes=10" | FILMETO_DOWNLOAD_MAX=99999999999999 filmeto-run -d out > events
	[ "$(jget events 'by("completed")[0]["task_id"]')" = b ]
}

@test "a cancel line during a stalled download cancels that task alone" {
	start_fake slow
	mkfifo in
	filmeto-run -j 2 --no-cache -d out < in > events &
	RUN_PID=$!
	exec {feed}> in
	fetch_task stalled "$FAKE_URL/stall" >&"$feed"
	wait_for -t 15 fetching /stall
	echo '{"type":"cancel","task_id":"stalled"}' >&"$feed"
	wait_for -t 15 has '"cancelled"'
	echo_task after >&"$feed"
	exec {feed}>&-
	wait_run
	[ "$run_status" -eq 1 ]
	[ "$(jget events '[l["task_id"] for l in by("cancelled")]')" = '["stalled"]' ]
	[ "$(jget events '[l["task_id"] for l in by("completed")]')" = '["after"]' ]
	no_tmp
}

@test "filmeto-submit --cancel of a spooled task that is downloading: cancelled, no .tmp" {
	start_fake slow
	export FILMETO_SPOOL="$BATS_TEST_TMPDIR/spool"
	filmeto-submit --queue -t text2text -P pyfilmeto -p text=x -p mode=resources \
		-r "$FAKE_URL/stall" -i stuck
	filmeto-run --spool --grace 1 &
	RUN_PID=$!
	wait_for -t 15 fetching /stall
	run filmeto-submit --cancel stuck
	[ "$status" -eq 0 ]
	log=$(echo "$FILMETO_SPOOL"/log/*.stuck)
	wait_for -t 15 has '"cancelled"' "$log"
	kill -TERM "$RUN_PID"
	wait_run
	[ "$(jget "$log" 'by("cancelled")[0]["error"]["code"]')" = TASK_CANCELLED ]
	no_tmp
}

@test "two tasks fetch one URL at once; a rerun is answered from the cache after its started line" {
	start_fake slow
	{ fetch_task one "$FAKE_URL/trickle?bytes=3&every=0.3"; fetch_task two "$FAKE_URL/trickle?bytes=3&every=0.3"; } \
		| filmeto-run -j 2 -d out > events
	[ "$(jget events 'sorted(l["task_id"] for l in by("completed"))')" = '["one", "two"]' ]
	[ "$(cat "$(cat out/one/out.txt)")" = xxx ]
	[ "$(cat "$(cat out/two/out.txt)")" = xxx ]
	fetch_task three "$FAKE_URL/trickle?bytes=3&every=0.3" | filmeto-run -d out > events2
	[ "$(jget events2 '[l["type"] for l in lines]')" = '["started", "completed"]' ]
	[ "$(jget events2 'by("completed")[0]["metadata"]["cached"]')" = true ]
	no_tmp
}

@test "hashing a large input for the cache key holds up no other task, and its timeout ends it" {
	# Sparse: 64 GiB to hash, no disk used. Hashing takes minutes; the timeout far less.
	truncate -s 64G big.bin
	{
		task big pyfilmeto text2text '{"text":"x","mode":"resources"}' \
			",\"resources\":[{\"type\":\"local_path\",\"data\":\"$BATS_TEST_TMPDIR/big.bin\"}],\"timeout\":4"
		for i in 1 2 3; do echo_task "e$i"; done
	} > tasks
	run timeout -k 5 60 filmeto-run -j 4 -d out tasks
	echo "$output" > events
	[ "$status" -eq 1 ]
	[ "$(jget events 'sorted(l["task_id"] for l in by("completed"))')" = '["e1", "e2", "e3"]' ]
	# The others start while it hashes; it fails on time.
	[ "$(jget events '[l["task_id"] for l in by("started")]')" = '["big", "e1", "e2", "e3"]' ]
	[ "$(ms_between events 'by("started")[0]' 'by("started")[-1]')" -lt 1500 ]
	[ "$(jget events 'by("failed")[0]["error"]["code"]')" = TIMEOUT_ERROR ]
	[[ "$(jget events 'by("failed")[0]["error"]["message"]')" == *"timed out after 4s while its inputs were fetched and hashed"* ]]
	[ "$(ms_between events 'by("started")[0]' 'by("failed")[0]')" -lt 6000 ]
}
