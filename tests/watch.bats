#!/usr/bin/env bats
# filmeto-watch: plain lines per state change, the stream passed on, a verdict.

load test_helper

setup() {
	common_setup
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
	[[ "${lines[0]}" == "filmeto-watch 0.1.0 (git "*")" ]]
	run filmeto-watch -x
	[ "$status" -eq 2 ]
}

@test "a retry says so, a cached result is counted" {
	{ ev started a ',"attempt":1'; ev started a ',"attempt":2,"tool_name":"text2image","plugin_name":"titlecard"'
	  ev completed a ',"attempts":2,"output_files":["/o/a.png"]'
	  ev completed b ',"output_files":["/o/b.png"],"metadata":{"cached":true}'; } > in
	run --separate-stderr filmeto-watch < in
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"Z retry a (text2image, titlecard): attempt 2"* ]]
	[[ "$stderr" == *"completed a in "*"s: /o/a.png after 2 attempts"* ]]
	[[ "$stderr" == *"completed b in 0.00s: /o/b.png (cached)"* ]]
	[[ "$stderr" == *"2 tasks: 2 completed, 0 failed, 0 cancelled; 1 cached; wall time "* ]]
	[[ "$stderr" == *"output /o/a.png"* ]]
}

@test "-q: only failures and the summary" {
	{ ev started a; ev completed a ',"output_files":["/o/a.png"]'
	  ev started b; ev failed b ',"error":{"code":"SERVICE_ERROR","message":"no"}'; } > in
	run --separate-stderr filmeto-watch -q < in
	[ "$status" -eq 1 ]
	[[ "$stderr" != *started* ]]
	[[ "$stderr" != *"completed a"* ]]
	[[ "$stderr" == *"Z failed b: SERVICE_ERROR: no"* ]]
	[[ "$stderr" == *"2 tasks: 1 completed, 1 failed"* ]]
	[ "$output" = "$(cat in)" ]
}

@test "-v: progress lines, at most one per task in 5 seconds" {
	{ ev started a; ev progress a ',"percent":10,"stage":"render","message":"drawing"'
	  ev progress a ',"percent":20'; ev progress b ',"percent":30'; ev completed a; ev completed b; } > in
	run --separate-stderr filmeto-watch -v < in
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"Z progress a 10% render: drawing"* ]]
	[[ "$stderr" != *"progress a 20%"* ]]
	[[ "$stderr" == *"Z progress b 30%"* ]]
	run --separate-stderr filmeto-watch < in
	[[ "$stderr" != *progress* ]]
}

@test "exit statuses: 1 for a cancelled task, 3 unfinished, 4 for no task at all" {
	ev cancelled a ',"error":{"code":"TASK_CANCELLED","message":"cancelled by user"}' > in
	run --separate-stderr filmeto-watch < in
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"cancelled a: TASK_CANCELLED: cancelled by user"* ]]
	{ ev started a; ev heartbeat b; ev log c; } > in
	run --separate-stderr filmeto-watch < in
	[ "$status" -eq 3 ]
	[[ "$stderr" == *"3 unfinished"* ]]
	run --separate-stderr filmeto-watch < /dev/null
	[ "$status" -eq 4 ]
	[[ "$stderr" == *"no tasks in the stream: did the command before it fail?"* ]]
	run --separate-stderr filmeto-watch --allow-empty < /dev/null
	[ "$status" -eq 0 ]
	[[ "$stderr" != *"no tasks"* ]]
	run filmeto-watch --color=sometimes < /dev/null
	[ "$status" -eq 2 ]
}

@test "a pipeline whose first command failed is no success at its end" {
	# The tool is misspelt: submit says so and writes nothing, run runs
	# nothing and exits 0; watch is the one that can tell.
	run --separate-stderr bash -c 'filmeto-submit -t text2imag -p prompt=x | filmeto-run -d out | filmeto-watch -q'
	[ "$status" -eq 4 ]
	[[ "$stderr" == *"text2imag"* ]]
	[[ "$stderr" == *"no tasks in the stream"* ]]
	# Lines that are no task events (a plan, a stray word) are still no task.
	run --separate-stderr bash -c 'printf "%s\\n" "{\\"type\\":\\"plan\\"}" hello | filmeto-watch'
	[ "$status" -eq 4 ]
}

@test "the summary names the film first; -q leaves out the other outputs" {
	{
		ev started s1 ',"tool_name":"text2image"'
		ev completed s1 ',"output_files":["/o/s1/card.png"]'
		ev started film ',"tool_name":"combine"'
		ev completed film ',"output_files":["/o/hello.mp4","/o/hello.srt","/o/hello.json"]'
	} > in
	run --separate-stderr filmeto-watch < in
	[ "$status" -eq 0 ]
	summary=$(grep -v ' completed \| started ' <<< "$stderr")
	[ "$(head -1 <<< "$summary")" = "filmeto-watch: film /o/hello.mp4" ]
	[[ "$stderr" == *"output /o/s1/card.png"* ]]
	run --separate-stderr filmeto-watch -q < in
	[ "$status" -eq 0 ]
	[ "${#stderr_lines[@]}" -eq 2 ]
	[ "${stderr_lines[0]}" = "filmeto-watch: film /o/hello.mp4" ]
	[[ "${stderr_lines[1]}" == "filmeto-watch: 2 tasks: 2 completed, 0 failed"* ]]
	# A film that failed is not named as made.
	sed -i 's/"completed","task_id":"film"/"failed","task_id":"film"/' in
	run --separate-stderr filmeto-watch -q < in
	[[ "$stderr" != *"film /o/hello.mp4"* ]]
}

@test "--summary-json: one object with counts, outputs, failures, unfinished" {
	{ echo '{"type":"task","task_id":"u"}'; ev completed a ',"output_files":["/o/a.png","/o/a.srt"],"metadata":{"cached":true}'
	  ev failed b ',"error":{"code":"TIMEOUT_ERROR","message":"too \"slow\""}'; } > in
	run filmeto-watch --summary-json sum.json < in
	[ "$status" -eq 1 ]
	[ ! -e sum.json.* ] || false
	python3 - <<'PY'
import json
s = json.load(open("sum.json"))
assert (s["tasks"], s["completed"], s["failed"], s["cancelled"], s["cached"], s["unfinished"]) == (3, 1, 1, 0, 1, 1), s
assert s["outputs"] == ["/o/a.png", "/o/a.srt"], s
assert s["failures"] == [{"task_id": "b", "status": "failed", "code": "TIMEOUT_ERROR", "message": 'too "slow"'}], s
assert s["unfinished_tasks"] == ["u"] and s["exit_status"] == 1, s
assert isinstance(s["wall_time"], float)
PY
}

@test "plan lines: copied unchanged, their tasks counted in the summaries; a bad one is ignored" {
	{ echo '{"type":"plan","tasks":10,"film_task_id":"film"}'; echo '{"type":"plan","tasks":7}'
	  echo '{"type":"plan","tasks":-3}'; echo '{"type":"plan","tasks":"many"}'
	  ev completed a; ev completed b; } > in
	run --separate-stderr filmeto-watch --summary-json sum.json < in
	[ "$output" = "$(cat in)" ]
	# Tasks the plan announced never came: the stream was cut short, no success.
	[ "$status" -eq 3 ]
	[[ "$stderr" == *"2 tasks (17 planned): 2 completed, 0 failed"* ]]
	[[ "$stderr" == *"15 planned tasks never came: the stream ended first"* ]]
	holds sum.json 'lines[0]["planned"] == 17' 'lines[0]["tasks"] == 2' 'lines[0]["exit_status"] == 3'
	# All that was planned came: 0.
	{ echo '{"type":"plan","tasks":2}'; ev completed a; ev completed b; } | filmeto-watch -q >/dev/null
	# Without a plan line the summaries are as they were.
	ev completed a | filmeto-watch --summary-json sum.json 2>err >/dev/null
	grep -q '^filmeto-watch: 1 task: 1 completed' err
	holds sum.json '"planned" not in lines[0]'
}

@test "--junit: a testcase per task, failures with their error, escaped" {
	{ ev completed a ',"execution_time":2.5'; ev failed 'b' ',"error":{"code":"SERVICE_ERROR","message":"<bad> & \"worse\""}'
	  ev cancelled c; ev started d; } > in
	run filmeto-watch --junit junit.xml < in
	[ "$status" -eq 1 ]
	python3 - <<'PY'
import xml.etree.ElementTree as ET
s = ET.parse("junit.xml").getroot()
assert s.tag == "testsuite" and s.get("name") == "filmeto", s.attrib
assert (s.get("tests"), s.get("failures"), s.get("errors"), s.get("skipped")) == ("4", "1", "1", "1"), s.attrib
cases = {c.get("name"): c for c in s.iter("testcase")}
assert list(cases) == ["a", "b", "c", "d"]
assert cases["a"].get("time") == "2.500" and len(cases["a"]) == 0
f = cases["b"].find("failure")
assert f.get("message") == 'SERVICE_ERROR: <bad> & "worse"' and f.text == '<bad> & "worse"', f.attrib
assert cases["c"].find("skipped").get("message").startswith("TASK_CANCELLED")
assert cases["d"].find("error") is not None
PY
}

@test "many events for few tasks: the fast path agrees with the full parse" {
	{ ev started a; for i in $(seq 200); do ev progress a ",\"percent\":$i"; ev heartbeat a; ev log a ',"message":"x"'; done
	  echo '{"type":"progress","task_id":"bad id"}'; echo '{"type":"progress","task_id":"b"'
	  ev completed a; } > in
	run --separate-stderr filmeto-watch < in
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"1 task: 1 completed"* ]]
	[ "$output" = "$(cat in)" ]
}

@test "plain lines: control characters and escape sequences in events never reach stderr" {
	# In the code, the message and the tool name: a colour, clear screen,
	# a window title, an 8-bit CSI and a bell, all as JSON escapes.
	local bad='x\u001b[31my\u001b[2J\u001b]0;pwned\u0007z\u009b2J\u0007'
	{ ev started a ",\"tool_name\":\"t$bad\",\"plugin_name\":\"p$bad\""
	  ev failed a ",\"error\":{\"code\":\"E$bad\",\"message\":\"m$bad\"}"; } > in
	run --separate-stderr filmeto-watch --color=never < in
	[ "$status" -eq 1 ]
	[ "$output" = "$(cat in)" ]
	# Each sequence is one replacement, the 8-bit CSI's "2J" with it.
	[[ "$stderr" == *"started a (tx�y��z��, px�y��z��)"* ]]
	[[ "$stderr" == *"failed a: Ex�y��z��: mx�y��z��"* ]]
	[[ "$stderr" == *"filmeto-watch: failed a: Ex�y��z��: mx�y��z��"* ]]
	printf '%s' "$stderr" > err
	run ! grep -qP '[\x00-\x09\x0b-\x1f\x7f]' err
	run ! grep -qF $'\xc2\x9b' err
	run ! grep -qF pwned err
}

# copy_lost STDERR WHY: the copy's failure said exactly once, with WHY,
# before the summary, which still counts what happened.
copy_lost() {
	[ "$(grep -c 'cannot write to standard output' <<< "$1")" -eq 1 ]
	[[ "$1" == *"filmeto-watch: cannot write to standard output: $2"*"1 task: 1 completed"* ]]
}

@test "a copy to standard output that cannot be written is said once and is not success, in every mode" {
	# more than the writer's buffer, so it fails more than once
	{ ev started a; for i in $(seq 3000); do ev log a ',"message":"a line long enough to fill the buffer soon"'; done
	  ev completed a; } > in
	run --separate-stderr sh -c 'filmeto-watch in > /dev/full'
	[ "$status" -eq 1 ]
	copy_lost "$stderr" 'No space left on device'
	run --separate-stderr sh -c 'filmeto-watch < in > /dev/full'
	[ "$status" -eq 1 ]
	copy_lost "$stderr" 'No space left on device'
	# past a file size limit (stderr is a pipe: the limit is not its)
	run bash -c 'ulimit -f 8; filmeto-watch in > copy'
	[ "$status" -eq 1 ]
	copy_lost "$output" 'File too large'
	[ "$(stat -c %s copy)" -eq 8192 ]
	# a closed pipe is the reader's choice: nothing said, the verdict stands
	run --separate-stderr bash -c 'trap "" PIPE; filmeto-watch in | head -c 1 > /dev/null; exit ${PIPESTATUS[0]}'
	[ "$status" -eq 0 ]
	[[ "$stderr" != *"cannot write"* ]]
}

@test "following the spool: a copy that cannot be written is said once and is not success" {
	filmeto-submit --queue -t text2text -P pyfilmeto -p text=hello -i w1 > /dev/null
	filmeto-run --spool --drain 2> /dev/null
	run --separate-stderr sh -c 'filmeto-watch -f w1 > /dev/full'
	[ "$status" -eq 1 ]
	copy_lost "$stderr" 'No space left on device'
	run bash -c 'ulimit -f 0; filmeto-watch -f w1 > copy'
	[ "$status" -eq 1 ]
	copy_lost "$output" 'File too large'
	run --separate-stderr sh -c 'filmeto-watch --status w1 > /dev/full'
	[ "$status" -eq 1 ]
	[ "$stderr" = 'filmeto-watch: cannot write to standard output: No space left on device' ]
	run --separate-stderr sh -c 'filmeto-watch --list > /dev/full'
	[ "$status" -eq 1 ]
	[ "$stderr" = 'filmeto-watch: cannot write to standard output: No space left on device' ]
}
