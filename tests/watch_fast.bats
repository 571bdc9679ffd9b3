#!/usr/bin/env bats
# filmeto-watch on the bulk of a stream: progress, heartbeat and log lines
# are read by a scan that never builds them (lib/ndjson.c fm_json_scan),
# json-c reads the rest. Whichever way a line goes, what watch says is the
# same; and the copy on stdout is the input byte for byte.

load test_helper

setup() {
	common_setup
}

# mask FILE: the summary's wall time, which no two runs share.
mask() {
	sed -E 's/wall time [0-9.]+s/wall time Xs/; s/"wall_time":[0-9.]+/"wall_time":X/' "$1"
}

@test "the copy is the input byte for byte: CRLF, bytes not UTF-8, long lines, no last newline" {
	python3 - <<'PY'
import json
ev = lambda t, **m: json.dumps(dict(type=t, task_id="a", **m), separators=(",", ":")).encode()
with open("in", "wb") as f:
    f.write(ev("started", attempt=1) + b"\r\n")
    f.write(ev("progress", percent=10.5, message="frame 1 of 24") + b"\r\n")
    # Bytes that are not UTF-8, inside an event and outside, and a NUL.
    f.write(b'{"type":"log","task_id":"a","message":"\xff\xfe\xc0\x80"}\n')
    f.write(b'not json \xff\x00 at all\r\n\r\n')
    # A line of 3 MiB, within the limit, and one of 5 MiB, past it.
    f.write(ev("log", message="x" * 3 * 2**20) + b"\n")
    f.write(ev("log", message="y" * 5 * 2**20) + b"\r\n")
    f.write(ev("progress", percent=99, message="frame 24 of 24") + b"\n")
    f.write(ev("completed", status="success", output_files=[]) + b"\r")
PY
	for mode in -q "" -v; do
		filmeto-watch $mode < in > out 2> err
		cmp in out
		grep -q "line 7 is longer than the limit of 4194304 bytes and was not read (it is copied)" err
		grep -q "1 task: 1 completed" err
		# Through a pipe, and with the stream as a FILE.
		filmeto-watch $mode in 2>/dev/null | cat > out
		cmp in out
	done
	# One file after another: a line too long to read after a last line
	# without a newline still starts a line of its own.
	printf 'z\r' > first
	filmeto-watch --allow-empty first in > out 2>/dev/null
	cmp <(printf 'z\r\n'; cat in) out
}

@test "events spelled otherwise (spaces, another order, escapes) say what filmeto-run's spelling says" {
	python3 - <<'PY'
import json
lines = []
for i in range(300):
    t = "scene%03d-zoom" % (i % 3)
    if i < 3:
        lines.append(dict(type="started", task_id=t, timestamp="2026-11-21T10:00:00.000Z", attempt=1,
                          plugin_name="kenburns", tool_name="image2video"))
    elif i % 50 == 7:
        lines.append(dict(type="heartbeat", task_id=t, timestamp="2026-11-21T10:00:01.000Z", attempt=1))
    elif i % 70 == 9:
        lines.append(dict(type="log", task_id=t, timestamp="2026-11-21T10:00:01.000Z", attempt=1,
                          level="info", message="caf\u00e9 \"x\""))
    else:
        lines.append(dict(type="progress", task_id=t, timestamp="2026-11-21T10:00:02.000Z", attempt=1,
                          percent=10 + i * 0.29, message="frame %d of 300 \u00e9" % i, stage="render"))
for t in ("scene000-zoom", "scene001-zoom"):
    lines.append(dict(type="completed", task_id=t, timestamp="2026-11-21T10:00:09.000Z", status="success",
                      output_files=["/films/%s.mp4" % t], execution_time=9.0, attempts=1))
with open("compact", "w") as f:
    for l in lines:
        f.write(json.dumps(l, separators=(",", ":"), ensure_ascii=False) + "\n")
# Python's own spelling: spaces, \u escapes, and the members the other way round.
with open("spaced", "w") as f:
    for l in lines:
        f.write(json.dumps(dict(reversed(list(l.items())))) + "\n")
PY
	for mode in -q "" -v; do
		for s in compact spaced; do
			run --separate-stderr filmeto-watch $mode --summary-json $s.json < $s
			[ "$status" -eq 3 ]
			[ "$output" = "$(cat $s)" ]
			printf '%s\n' "$stderr" > $s.err
		done
		diff <(mask compact.err) <(mask spaced.err)
		diff <(mask compact.json) <(mask spaced.json)
	done
	grep -q "task 'scene002-zoom' did not finish" compact.err
	grep -q '"completed":2' compact.json
	# -v shows a progress line's message as json-c reads it, escaped or not.
	grep -q "progress scene000-zoom 11% render: frame 3 of 300 é" spaced.err
}

@test "a line json-c refuses is no event, however it starts; of a member named twice the last counts" {
	printf '%s\n' '{"type":"progress","task_id":"w","percent":1e999}' \
		'{"type":"progress","task_id":"x","percent":1,}' \
		'{"type":"progress","task_id":"y"} trailing' \
		'{"type":"heartbeat","task_id":"z","data":"a' > in
	run --separate-stderr filmeto-watch < in
	[ "$status" -eq 4 ]
	[[ "$stderr" == *"no tasks in the stream"* ]]
	[ "$output" = "$(cat in)" ]
	printf '%s\n' '{"type":"progress","task_id":"a","task_id":"b","percent":40,"percent":60}' \
		'{"type":"log","type":"completed","task_id":"b"}' > in
	run --separate-stderr filmeto-watch -v < in
	[ "$status" -eq 0 ]
	[[ "$stderr" == *" progress b 60%"* ]]
	[[ "$stderr" == *"1 task: 1 completed"* ]]
}

@test "a million-line stream's worth, shortened: every event of a few tasks counted" {
	awk 'BEGIN {
		for (i = 0; i < 3; i++)
			printf "{\"type\":\"started\",\"task_id\":\"t%d\",\"attempt\":1}\n", i
		for (k = 0; k < 30000; k++)
			printf "{\"type\":\"progress\",\"task_id\":\"t%d\",\"attempt\":1,\"percent\":%.2f,\"message\":\"frame %d\",\"stage\":\"render\"}\n", k % 3, k / 300, k
		printf "{\"type\":\"failed\",\"task_id\":\"t1\",\"error\":{\"code\":\"TIMEOUT_ERROR\",\"message\":\"slow\"}}\n"
		printf "{\"type\":\"completed\",\"task_id\":\"t0\"}\n{\"type\":\"completed\",\"task_id\":\"t2\"}\n"
	}' > in
	run --separate-stderr filmeto-watch -q < in
	[ "$status" -eq 1 ]
	cmp in <(printf '%s\n' "$output")
	[[ "$stderr" == *"failed t1: TIMEOUT_ERROR: slow"* ]]
	[[ "$stderr" == *"3 tasks: 2 completed, 1 failed"* ]]
}
