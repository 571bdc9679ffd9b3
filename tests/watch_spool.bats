#!/usr/bin/env bats
# filmeto-watch on the spool: --follow, --all, --list and --status. The
# spools are built by hand, file by file, the way lib/spool.c writes them;
# a background loop that appends to a log and then moves the task to
# done/ or failed/ stands in for a worker.

load test_helper

setup() {
	common_setup
	export FILMETO_SPOOL="$BATS_TEST_TMPDIR/spool"
	sp=$FILMETO_SPOOL
	mkdir -p "$sp"/{tmp,queue,done,failed,log,cancel,out}
	PIDS=
}

teardown() {
	local p
	touch "$BATS_TEST_TMPDIR/release"
	if [ -n "${sock:-}" ]; then tmux -L "$sock" kill-server 2>/dev/null || true; fi
	for p in $PIDS; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}

# bg COMMAND...: runs COMMAND in the background, ended by teardown.
bg() {
	"$@" </dev/null >/dev/null 2>&1 3>&- &
	PIDS="$PIDS $!"
}

# queue ID [TOOL] [AGE]: a task queued AGE seconds ago (default 1); its
# name (SEQ.ID) goes to ./name.ID.
queue() {
	local id=$1 tool=${2:-text2image} age=${3:-1} seq
	seq=$(printf '%016x' $(($(date +%s%N) - age * 1000000000)))
	printf '{"type":"task","task_id":"%s","tool_name":"%s","plugin_name":"titlecard","parameters":{}}\n' \
		"$id" "$tool" >"$sp/queue/$seq.$id"
	echo "$seq.$id" >"name.$id"
}

name() { cat "name.$1"; }

# log ID TYPE [extra]: appends one event line to the task's log, stamped
# now, as the worker logs it.
log() {
	ev "$2" "$1" "${3:-}" "$(date -u +%Y-%m-%dT%H:%M:%S.000Z)" >>"$sp/log/$(name "$1")"
}

claimed() { log "$1" claimed ",\"attempt\":${2:-1},\"worker\":\"host:1\""; }
started() { log "$1" started ',"plugin_name":"titlecard","attempt":1'; }
completed() { log "$1" completed ",\"status\":\"success\",\"output_files\":[\"/o/$1.png\"],\"execution_time\":1.5,\"attempts\":1"; }
failed() { log "$1" failed ',"status":"error","error":{"code":"TIMEOUT_ERROR","message":"too slow"}'; }

# finish ID DIR [AGE]: the task moves to done/ or failed/, finished AGE s ago.
finish() {
	mv "$sp/queue/$(name "$1")" "$sp/$2/"
	if [ -n "${3:-}" ]; then
		touch -d "@$(($(date +%s) - $3))" "$sp/$2/$(name "$1")"
	fi
}

done_task() { queue "$1" "${2:-text2image}" "${3:-60}"; claimed "$1"; started "$1"; completed "$1"; finish "$1" done "${4:-}"; }
failed_task() { queue "$1" "${2:-text2image}" "${3:-60}"; claimed "$1"; started "$1"; failed "$1"; finish "$1" failed "${4:-}"; }

# A stand-in worker: claims ID after DELAY seconds, runs it a little and
# finishes it with END (completed or failed).
worker() {
	local id=$1 end=$2 delay=${3:-0.3}
	sleep "$delay"
	claimed "$id"
	started "$id"
	log "$id" progress ',"percent":50'
	sleep 0.3
	log "$id" heartbeat
	"$end" "$id"
	if [ "$end" = completed ]; then finish "$id" done; else finish "$id" failed; fi
}

@test "--list: state, age, id and tool per task in queue order, the error code of failed ones" {
	done_task old text2video 400000 $((4 * 86400))
	failed_task bad text2speak 10000 $((3 * 60))
	queue run text2text 9000
	queue waiting text2music 300
	touch -d "@$(($(date +%s) - 2 * 3600))" "$sp/queue/$(name run)"
	bg flock "$sp/queue/$(name run)" sh -c "while [ ! -e '$BATS_TEST_TMPDIR/release' ]; do sleep 0.05; done"
	for i in $(seq 100); do
		filmeto-watch --list | grep -q '^running' && break
		sleep 0.05
	done
	run --separate-stderr filmeto-watch --list
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "${#lines[@]}" -eq 4 ]
	[ "${lines[0]}" = "done     4d  old      text2video" ]
	[ "${lines[1]}" = "failed   3m  bad      text2speak  TIMEOUT_ERROR" ]
	[ "${lines[2]}" = "running  2h  run      text2text" ]
	[ "${lines[3]}" = "queued   5m  waiting  text2music" ]
	run filmeto-watch --list --state failed
	[ "$status" -eq 0 ]
	[ "$output" = "failed  3m  bad  text2speak  TIMEOUT_ERROR" ]
	# The same as JSON: epoch times, null where there is none.
	run --separate-stderr filmeto-watch --list --json
	[ "$status" -eq 0 ]
	echo "$output" > list.json
	[ "$(jget list.json '[(t["task_id"], t["state"], t["tool"], t["code"]) for t in lines[0]]')" = \
		'[["old", "done", "text2video", null], ["bad", "failed", "text2speak", "TIMEOUT_ERROR"], ["run", "running", "text2text", null], ["waiting", "queued", "text2music", null]]' ]
	[ "$(jget list.json 'lines[0][3]["changed_at"] is None and 250 < __import__("time").time() - lines[0][3]["queued_at"] < 400')" = true ]
	run filmeto-watch --list --json --state failed
	[ "$(jget <(echo "$output") 'len(lines[0])')" -eq 1 ]
	run filmeto-watch --json
	[ "$status" -eq 2 ]
	# Once its worker lets go, a task that did not end is queued again.
	touch release
	for i in $(seq 100); do
		filmeto-watch --list | grep -q '^running' || break
		sleep 0.05
	done
	run filmeto-watch --list --state queued
	[ "${lines[0]}" = "queued  2h  run      text2text" ]
	[ "${lines[1]}" = "queued  5m  waiting  text2music" ]
}

@test "--list: an empty spool lists nothing; a cancelled task says so; --state checks its value" {
	run filmeto-watch --list
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	queue c
	log c cancelled ',"status":"cancelled","error":{"code":"TASK_CANCELLED","message":"task '"'c'"' was cancelled"}'
	finish c failed
	run filmeto-watch --list
	[[ "$output" =~ ^cancelled\ +[0-9]+s\ +c\ +text2image$ ]]
	run --separate-stderr filmeto-watch --list --state later
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"invalid argument 'later' for '--state'"* ]]
	run --separate-stderr filmeto-watch --state done
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"--state goes with --list"* ]]
}

@test "--status: the status as one JSON line, and the state in the exit status" {
	done_task d
	failed_task f
	queue q
	queue r
	claimed r
	started r
	log r progress ',"percent":40,"stage":"render","message":"drawing"'
	bg flock "$sp/queue/$(name r)" sh -c "while [ ! -e '$BATS_TEST_TMPDIR/release' ]; do sleep 0.05; done"
	for i in $(seq 100); do
		filmeto-watch --status r | grep -q running && break
		sleep 0.05
	done
	run --separate-stderr filmeto-watch --status d
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	echo "$output" >st
	[ "$(jget st 'lines[0]["state"]')" = done ]
	[ "$(jget st 'lines[0]["tool_name"]')" = text2image ]
	[ "$(jget st 'lines[0]["result"]["output_files"]')" = '["/o/d.png"]' ]
	run --separate-stderr filmeto-watch --status f
	[ "$status" -eq 1 ]
	echo "$output" >st
	[ "$(jget st 'lines[0]["result"]["error"]["code"]')" = TIMEOUT_ERROR ]
	run --separate-stderr filmeto-watch --status q
	[ "$status" -eq 3 ]
	echo "$output" >st
	[ "$(jget st 'lines[0]["state"]')" = queued ]
	[ "$(jget st 'lines[0]["attempts"]')" = 0 ]
	run --separate-stderr filmeto-watch --status r
	[ "$status" -eq 3 ]
	echo "$output" >st
	[ "$(jget st 'lines[0]["state"]')" = running ]
	[ "$(jget st 'lines[0]["progress"]["percent"]')" = 40 ]
	run --separate-stderr filmeto-watch --status nope
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[ "$stderr" = "filmeto-watch: no task 'nope' in the spool '$sp'" ]
}

@test "--status of a cancelled task: status 1" {
	queue c
	log c cancelled ',"status":"cancelled","error":{"code":"TASK_CANCELLED","message":"cancelled"}'
	finish c failed
	run filmeto-watch --status c
	[ "$status" -eq 1 ]
	echo "$output" >st
	[ "$(jget st 'lines[0]["state"]')" = cancelled ]
}

@test "--follow: a task that completes, shown as in a pipeline, status 0" {
	queue a text2image
	bg worker a completed
	run --separate-stderr timeout 20 filmeto-watch --follow a
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"Z started a (text2image, titlecard)"* ]]
	[[ "$stderr" == *"Z completed a in 1.50s: /o/a.png"* ]]
	[[ "$stderr" == *"1 task: 1 completed, 0 failed, 0 cancelled"* ]]
	[[ "$stderr" != *claimed* ]]
}

@test "--follow: a task that fails, status 1; several ids; a finished one is shown at once" {
	done_task old
	queue b text2speak
	bg worker b failed
	run --separate-stderr timeout 20 filmeto-watch -f old --follow b
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"completed old in 1.50s: /o/old.png"* ]]
	[[ "$stderr" == *"Z started b (text2speak, titlecard)"* ]]
	[[ "$stderr" == *"Z failed b: TIMEOUT_ERROR: too slow"* ]]
	[[ "$stderr" == *"filmeto-watch: failed b: TIMEOUT_ERROR: too slow"* ]]
	[[ "$stderr" == *"2 tasks: 1 completed, 1 failed, 0 cancelled"* ]]
}

@test "--follow: a queued task has no log yet; it is waited for" {
	queue a
	bg worker a completed 1.5
	SECONDS=0
	run --separate-stderr timeout 20 filmeto-watch --follow a
	[ "$status" -eq 0 ]
	[ "$SECONDS" -ge 1 ]
	[[ "$stderr" == *"completed a in 1.50s"* ]]
}

@test "--follow: a retake is shown as a retry and counted" {
	queue a
	claimed a 1
	started a
	log a progress ',"percent":70'
	claimed a 2
	log a log ',"level":"warning","message":"attempt 2: the worker of attempt 1 stopped before the task ended"'
	started a
	completed a
	finish a done
	run --separate-stderr timeout 20 filmeto-watch --follow a
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"Z retry a (text2image, titlecard): attempt 2"* ]]
	[[ "$stderr" == *"completed a in 1.50s: /o/a.png after 2 attempts"* ]]
}

@test "--follow: the time of a task that started before is counted from its timestamp" {
	queue a
	claimed a
	echo "{\"type\":\"started\",\"task_id\":\"a\",\"timestamp\":\"$(date -u -d @$(($(date +%s) - 120)) +%Y-%m-%dT%H:%M:%S.000Z)\"}" \
		>>"$sp/log/$(name a)"
	log a completed ',"output_files":["/o/a.png"]'
	finish a done
	run --separate-stderr timeout 20 filmeto-watch --follow a
	[ "$status" -eq 0 ]
	[[ "$stderr" =~ completed\ a\ in\ 12[0-9]\.[0-9][0-9]s ]]
}

@test "--follow: without inotify the logs are polled" {
	command -v cc >/dev/null || skip "no C compiler"
	printf '%s\n' '#include <errno.h>' \
		'int inotify_init1(int f) { (void)f; errno = EMFILE; return -1; }' >noino.c
	cc -shared -fPIC -o noino.so noino.c
	queue a
	bg worker a completed 0.5
	SECONDS=0
	# ASan (make check SANITIZE=1) wants its runtime first; this one goes first.
	ASAN_OPTIONS=verify_asan_link_order=0 LD_PRELOAD=$PWD/noino.so \
		run --separate-stderr timeout 20 filmeto-watch --follow a
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"completed a in 1.50s"* ]]
	[ "$SECONDS" -lt 5 ]
}

@test "--follow -: the ids come on standard input" {
	queue a
	queue b
	bg worker a completed
	bg worker b completed 0.5
	run --separate-stderr bash -c '{ echo a; sleep 0.3; echo " b "; echo; } | timeout 20 filmeto-watch --follow -'
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"completed a in"* ]]
	[[ "$stderr" == *"completed b in"* ]]
	[[ "$stderr" == *"2 tasks: 2 completed"* ]]
	# Nothing on standard input: nothing to follow.
	run --separate-stderr timeout 20 filmeto-watch --follow - </dev/null
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"0 tasks: 0 completed"* ]]
}

@test "--follow: an unknown id is status 2" {
	done_task a
	run --separate-stderr timeout 20 filmeto-watch --follow a --follow nope
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[ "$stderr" = "filmeto-watch: no task 'nope' in the spool '$sp'" ]
	# On standard input the others are still followed, then status 2.
	run --separate-stderr bash -c 'printf "nope\na\n" | timeout 20 filmeto-watch --follow -'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"no task 'nope' in the spool"* ]]
	[[ "$stderr" == *"1 task: 1 completed"* ]]
	run --separate-stderr filmeto-watch --follow 'bad id'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"'bad id' is not a task id"* ]]
}

@test "--all: every unfinished task, also those queued meanwhile, until none is left" {
	done_task old
	queue r
	claimed r
	started r
	queue q
	# Each change waits for the watcher: on a loaded machine it may start
	# later than a fixed sleep, and then find r and q ended already.
	sum="$BATS_TEST_TMPDIR/sum.json"
	watching() { wait_for pgrep -f "^filmeto-watch --all --summary-json $sum" > /dev/null; }
	end_q() { watching; sleep 0.5; worker q completed 0.3; }
	bg end_q
	end_r() { watching; sleep 1; completed r; finish r done; }
	bg end_r
	# A task queued while watching, that fails.
	late() { watching; sleep 0.5; queue late; worker late failed 0.8; }
	bg late
	run --separate-stderr timeout 20 filmeto-watch --all --summary-json "$sum"
	[ "$status" -eq 1 ]
	[[ "$stderr" != *" old"* ]]
	[[ "$stderr" == *"completed r in"* ]]
	[[ "$stderr" == *"completed q in"* ]]
	[[ "$stderr" == *"failed late: TIMEOUT_ERROR: too slow"* ]]
	[[ "$stderr" == *"3 tasks: 2 completed, 1 failed, 0 cancelled"* ]]
	[ "$(jget sum.json 'lines[0]["tasks"]')" = 3 ]
}

@test "--all: nothing unfinished, status 0 at once with an empty summary" {
	done_task old
	run --separate-stderr timeout 5 filmeto-watch --all --summary-json sum.json
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[[ "$stderr" == *"0 tasks: 0 completed, 0 failed, 0 cancelled; 0 cached"* ]]
	[ "$(jget sum.json 'lines[0]["tasks"]')" = 0 ]
	[ "$(jget sum.json 'lines[0]["exit_status"]')" = 0 ]
}

@test "conflicting modes and FILE operands are usage errors" {
	done_task a
	local args
	for args in "--follow a --all" "--list --status a" "--all --list" "--follow a --status a" \
		"--status a --status a" "--list events" "--follow a events" "--all -" \
		"--list --summary-json s.json" "--status a --junit j.xml"; do
		run --separate-stderr filmeto-watch $args
		echo "$args: $status $stderr"
		[ "$status" -eq 2 ]
		[[ "$stderr" == *"Try 'filmeto-watch --help'."* ]]
		[ -z "$output" ]
	done
	[ ! -e s.json ] && [ ! -e j.xml ]
}

@test "SIGINT while following: the summary names the task, status 130" {
	queue a
	claimed a
	started a
	filmeto-watch --follow a >out 2>err &
	local pid=$! rc=0
	PIDS="$PIDS $pid"
	wait_for grep -q "started a" err
	kill -INT "$pid"
	wait "$pid" || rc=$?
	[ "$rc" -eq 130 ]
	grep -q "task 'a' did not finish: interrupted" err
	grep -q "1 task: 0 completed, 0 failed, 0 cancelled, 1 unfinished" err
}

@test "the events are copied when stdout is a pipe, without the spool's own lines" {
	queue a
	bg worker a completed
	run --separate-stderr bash -c 'timeout 20 filmeto-watch --follow a | cat'
	[ "$status" -eq 0 ]
	[ "$output" = "$(grep -v '"type":"claimed"' "$sp/log/$(name a)")" ]
	[ "${#lines[@]}" -eq 4 ]
	# -q: only failures and the summary; the copy is still whole.
	run --separate-stderr bash -c 'timeout 20 filmeto-watch -q --follow a | wc -l'
	[ "$output" -eq 4 ]
	[[ "$stderr" != *"completed a"* ]]
	[[ "$stderr" == *"1 task: 1 completed"* ]]
}

@test "--summary-json and --junit while following" {
	queue a text2image
	queue b
	bg worker a completed
	bg worker b failed
	run timeout 20 filmeto-watch -f a -f b --summary-json sum.json --junit junit.xml
	[ "$status" -eq 1 ]
	python3 - <<'PY'
import json
import xml.etree.ElementTree as ET
s = json.load(open("sum.json"))
assert (s["tasks"], s["completed"], s["failed"], s["unfinished"]) == (2, 1, 1, 0), s
assert s["outputs"] == ["/o/a.png"], s
assert s["failures"][0]["task_id"] == "b" and s["failures"][0]["code"] == "TIMEOUT_ERROR", s
assert s["exit_status"] == 1, s
cases = {c.get("name"): c for c in ET.parse("junit.xml").getroot().iter("testcase")}
assert cases["a"].get("classname") == "filmeto.text2image", cases["a"].attrib
assert cases["b"].find("failure") is not None
PY
}

@test "a task whose log ended without a final line is given up: status 3" {
	queue a
	claimed a
	started a
	finish a done
	run --separate-stderr timeout 20 filmeto-watch --follow a
	[ "$status" -eq 3 ]
	[[ "$stderr" == *"task 'a' ended without a final line in its log"* ]]
	[[ "$stderr" == *"task 'a' did not finish"* ]]
}

@test "--help names the spool modes" {
	run filmeto-watch --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"--follow ID"* ]]
	[[ "$output" == *"filmeto-watch --list [--state STATE]"* ]]
	[[ "$output" == *"filmeto-watch --status ID"* ]]
}

@test "on a terminal: the live line of a followed task moves as its log grows" {
	command -v tmux >/dev/null || skip "tmux is not installed"
	sock="fws$$-$BATS_TEST_NUMBER"
	queue a text2image
	claimed a
	started a
	on_tty "export FILMETO_SPOOL='$sp'; filmeto-watch --follow a >/dev/null"
	until_screen '^  a +text2image/titlecard \[.*\]   0% '
	log a progress ',"percent":40,"stage":"render","message":"drawing"'
	until_screen '^all \[.*\]  40%  0/1 done, 1 running'
	until_screen '^  a +text2image/titlecard \[.*\]  40% .*render: drawing'
	completed a
	finish a done
	wait_for test -s rc
	[ "$(cat rc)" -eq 0 ]
	run screen
	[[ "${lines[0]}" == "✓ a "*"s /o/a.png" ]]
	[[ "$output" != *"all ["* ]]
}
