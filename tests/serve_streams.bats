#!/usr/bin/env bats
# filmeto-serve with a thousand Server-Sent Event streams open at once:
# the memory they take, their heartbeats, one inotify instance for all,
# and a task's events reaching every stream on it (tests/sse_crowd.py,
# an asyncio client, holds the streams).

load test_helper
load serve_helper

setup() {
	serve_setup
}

teardown() {
	serve_teardown
}

noop() { printf '{"task_id":"%s","tool_name":"noop","plugin_name":"noop"}' "$1"; }

pyecho() {
	printf '{"task_id":"%s","tool_name":"text2text","plugin_name":"pyfilmeto","parameters":{"text":"%s","repeat":3%s}}' \
		"$1" "$1" "${2:-}"
}

# log_ids ID: the line numbers of task ID's log that are events (the spool's claimed lines aside), comma-separated.
log_ids() {
	python3 -c '
import json, sys
print(",".join(str(n) for n, line in enumerate(open(sys.argv[1]), 1)
               if json.loads(line)["type"] != "claimed"))
' "$SP"/log/*."$1"
}

inotify_fds() { find "/proc/$1/fd" -lname 'anon_inode:inotify' | wc -l; }

@test "1,000 streams: under 64 MiB, one inotify instance, every one beats, every task's events reach every stream on it" {
	# A thousand connections and as many open logs, past the usual 1,024 fds.
	ulimit -n 4096 || skip "needs 4,096 file descriptors; the hard limit is $(ulimit -Hn)"
	FILMETO_SERVE_HEARTBEAT=0.5 serve --workers 0
	tasks=
	for i in $(seq 1 15); do tasks="$tasks,$(noop "q$i")"; done
	[ "$(api POST /api/v1/tasks --data-binary "[${tasks#,},$(pyecho live ',"mode":"slow","delay":0.3')]")" = 201 ]
	# Quiet tasks with a log open, as running ones are: their streams read it and wait.
	for e in "$SP"/queue/*.q1 "$SP"/queue/*.q2 "$SP"/queue/*.q3 "$SP"/queue/*.q4; do
		printf '{"type":"log","task_id":"%s","timestamp":"2026-12-04T10:00:00.000Z","level":"info","message":"warming up"}\n' \
			"${e##*.}" >"$SP/log/${e##*/}"
	done
	crowd=
	for i in $(seq 1 14); do crowd="$crowd q$i:64"; done
	python3 "$ROOT/tests/sse_crowd.py" --heartbeat 0.5 --hold 50 "$PORT" "$SERVE_PID" \
		$crowd q15:40 live:64 >crowd 2>crowd.err &
	CLIENT_PID=$!
	wait_for -t 30 grep -q '^rss ' crowd
	grep -qx 'open 1000' crowd
	grep -qx 'beat 1000' crowd
	read -r _ first top < <(grep '^rss ' crowd)
	echo "RSS with 1,000 streams: $first KiB, at most $top KiB" >&2
	[ "$top" -lt 65536 ]
	[ "$(inotify_fds "$SERVE_PID")" -eq 1 ]
	# Flat: two heartbeats later it has not grown by more than a few pages per stream.
	[ $((top - first)) -lt 4096 ]
	# Now a worker runs them all: each stream gets its task's every event, then the end.
	run filmeto-run --spool --drain
	[ "$status" -eq 0 ]
	wait_for -t 30 eval '[ "$(grep -c "^ended " crowd)" -eq 16 ]'
	[ "$(grep '^ended live ' crowd)" = "ended live 64 $(log_ids live)" ]
	grep -q '^ended live 64 [0-9]*,[0-9]*,[0-9]*,' crowd # its progress too, live
	for i in $(seq 1 14); do
		[ "$(grep "^ended q$i " crowd)" = "ended q$i 64 $(log_ids "q$i")" ]
	done
	[ "$(grep '^ended q15 ' crowd)" = "ended q15 40 $(log_ids q15)" ]
	[ ! -s crowd.err ]
	[ "$(api GET /health)" = 200 ]
}
