#!/usr/bin/env bats
# filmeto-watch: plain lines per state change, the stream passed on, a verdict.

load test_helper

setup() {
	common_setup
}

ev() { # TYPE ID [extra]
	printf '{"type":"%s","task_id":"%s","timestamp":"2026-11-21T10:00:00.000Z"%s}\n' "$1" "$2" "${3:-}"
}

@test "one line per state change, the stream unchanged on stdout, status 0" {
	{ ev started a ',"tool_name":"text2image","plugin_name":"titlecard"'; ev progress a ',"percent":50'
	  ev completed a ',"execution_time":1.5,"output_files":["/tmp/a.png"]'; } > in
	run --separate-stderr filmeto-watch < in
	[ "$status" -eq 0 ]
	[ "$output" = "$(cat in)" ]
	[[ "$stderr" == *"2026-11-21T10:00:00Z started a (text2image, titlecard)"* ]]
	[[ "$stderr" == *"completed a in 1.50s: /tmp/a.png"* ]]
	[[ "$stderr" != *progress* ]]
	[[ "$stderr" == *"1 task: 1 completed, 0 failed, 0 cancelled"* ]]
}

@test "a failed task: its code and message, status 1" {
	{ ev started a; ev failed b ',"error":{"code":"TIMEOUT_ERROR","message":"too slow"}'; ev completed a; } > in
	run --separate-stderr filmeto-watch < in
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"failed b: TIMEOUT_ERROR: too slow"* ]]
	[[ "$stderr" == *"2 tasks: 1 completed, 1 failed"* ]]
}

@test "a truncated stream: status 3 naming the unfinished tasks" {
	{ echo '{"type":"task","task_id":"q"}'; ev started r; ev completed s; } > in
	run --separate-stderr filmeto-watch < in
	[ "$status" -eq 3 ]
	[[ "$stderr" == *"task 'q' did not finish"* ]]
	[[ "$stderr" == *"task 'r' did not finish"* ]]
	[[ "$stderr" == *"2 unfinished"* ]]
}

@test "garbage, unknown types and events out of order are tolerated" {
	{ echo 'not json at all'; echo '[1,2]'; echo '{"type":"mystery","task_id":"x"}'
	  ev completed a; ev started a; } > in
	run --separate-stderr filmeto-watch < in
	[ "$status" -eq 0 ]
	[ "$output" = "$(cat in)" ]
	[[ "$stderr" == *"1 task: 1 completed"* ]]
}

@test "a real pipeline ends in watch's verdict" {
	run bash -c 'filmeto-submit -t text2image -p prompt=hi -p width=64 -p height=64 -i w | filmeto-run -d out | filmeto-watch > events'
	[ "$status" -eq 0 ]
	[ "$(jget events 'by("completed")[0]["task_id"]')" = w ]
}

@test "files are read in order, - is stdin, a missing file is status 2" {
	ev completed a > one
	ev completed b | filmeto-watch one - > out 2>/dev/null
	[ "$(wc -l < out)" -eq 2 ]
	run filmeto-watch nothere
	[ "$status" -eq 2 ]
}

@test "--help, --version, bad option" {
	run filmeto-watch --help
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "usage: filmeto-watch"* ]]
	run filmeto-watch --version
	[ "$output" = "filmeto-watch 0.1.0" ]
	run filmeto-watch -x
	[ "$status" -eq 2 ]
}
