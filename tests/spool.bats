#!/usr/bin/env bats
# The spool: filmeto-submit --queue puts tasks in, filmeto-run --spool
# workers take them out, one at a time each, whatever kills them.

load test_helper

setup() {
	common_setup
	private_plugins
	export FILMETO_SPOOL="$BATS_TEST_TMPDIR/spool"
	SP=$FILMETO_SPOOL
}

teardown() {
	# A worker a test left running must not outlive it.
	jobs -p | xargs -r kill -KILL 2>/dev/null || true
}

running() { grep -q '"type":"started"' "$(logof "$1")" 2>/dev/null; }
# idle PID: the worker PID waits for work: its inotify watches are set and
# it sleeps.
idle() {
	grep -qs '^inotify wd:' /proc/"$1"/fdinfo/* && [ "$(cut -d' ' -f3 "/proc/$1/stat")" = S ]
}

# empty SUBDIR...: nothing in those spool directories.
empty() {
	local d
	for d; do
		[ -z "$(ls -A "$SP/$d")" ] || { echo "$d: $(ls -A "$SP/$d")"; return 1; }
	done
}

no_leftovers() {
	no_plugins_left
	empty tmp
}

@test "--queue writes each task into queue/ and prints its id; nothing is left in tmp/" {
	run noop -i first
	[ "$status" -eq 0 ]
	[ "$output" = first ]
	run noop -i second -p label=two
	[ "$output" = second ]
	[ "$(ls "$SP/queue" | wc -l)" -eq 2 ]
	empty tmp
	# Names sort in queue order; each file is the task line.
	[ "$(ls "$SP/queue" | sed 's/^[0-9a-f]*\.//' | tr '\n' ' ')" = "first second " ]
	jget "$SP"/queue/*.second "lines[0]['parameters']['label']" | grep -qx two
	jget "$SP"/queue/*.second "lines[0]['type']" | grep -qx task
}

@test "--queue refuses an id the spool has, and a dependency it has never seen" {
	noop -i dup
	run --separate-stderr noop -i dup
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"task 'dup': the spool has a task of that id already (queued)"* ]]
	run --separate-stderr noop -i lonely --depends nowhere
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"depends on task 'nowhere', which is neither in the plan nor in the spool"* ]]
	[ "$(ls "$SP/queue" | wc -l)" -eq 1 ]
}

@test "--queue --json takes many tasks, dependents after what they need, paths made absolute" {
	echo hi > in.txt
	cat > tasks <<-'EOF'
	{"type":"task","task_id":"b","tool_name":"noop","plugin_name":"noop","depends_on":["a"]}
	{"type":"task","task_id":"a","tool_name":"noop","plugin_name":"noop","resources":[{"type":"local_path","data":"in.txt"}]}
	EOF
	run filmeto-submit --queue --json tasks
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'a\nb')" ]
	jget "$SP"/queue/*.a "lines[0]['resources'][0]['data']" | grep -qx "$BATS_TEST_TMPDIR/in.txt"
}

@test "--queue --dry-run queues nothing" {
	run filmeto-submit --queue --dry-run -t noop -P noop
	[ "$status" -eq 0 ]
	[[ "$output" == *"plan: 1 task"* ]]
	empty queue
}

@test "the spool is under XDG_STATE_HOME unless FILMETO_SPOOL names one" {
	unset FILMETO_SPOOL
	run filmeto-submit --queue -t noop -P noop -i here
	[ "$status" -eq 0 ]
	ls "$XDG_STATE_HOME"/filmeto/spool/queue/*.here
}

@test "a --drain worker runs every task, logs each, moves it to done/ and exits 0" {
	noop -i n1
	noop -i n2
	run --separate-stderr filmeto-run --spool --drain --no-cache
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	empty queue
	[ "$(ls "$SP/done" | wc -l)" -eq 2 ]
	for id in n1 n2; do
		[ "$(finals $id)" -eq 1 ]
		jget "$(logof $id)" "by('claimed')[0]['attempt']" | grep -qx 1
		jget "$(logof $id)" "by('completed')[0]['status']" | grep -qx success
	done
	# Outputs go to the spool's out/ID unless -d says otherwise.
	queue_slow 0 -i made
	filmeto-run --spool --drain --no-cache
	jget "$(logof made)" "by('completed')[0]['output_files'][0]" | grep -q "^$SP/out/made/"
}

@test "a failed task goes to failed/ and the worker exits 1; -d puts outputs elsewhere" {
	queue_slow 0 -i good
	filmeto-submit --queue -t render -P gpu -p text=x -p mode=fail -i bad
	run filmeto-run --spool --drain -d elsewhere
	[ "$status" -eq 1 ]
	ls "$SP"/failed/*.bad
	ls "$SP"/done/*.good
	jget "$(logof bad)" "by('failed')[0]['status']" | grep -qx error
	jget "$(logof good)" "by('completed')[0]['output_files'][0]" | grep -q "$BATS_TEST_TMPDIR/elsewhere/good/"
}

@test "a worker without --drain waits for new tasks and stops on SIGTERM with 130" {
	filmeto-run --spool --no-cache 2> worker.err &
	w=$!
	wait_for idle $w
	noop -i late
	wait_for in_dir done late
	kill -TERM $w
	st=0
	wait $w || st=$?
	[ "$st" -eq 130 ]
	[ "$(finals late)" -eq 1 ]
}

@test "a storyboard queued whole renders with two workers, each task once" {
	unset FILMETO_PLUGIN_PATH # the bundled plugins make real media
	cat > board.yaml <<-'EOF'
	title: Two scenes
	size: 320x180
	fps: 10
	scenes:
	  - {id: one, title: One, prompt: one, narration: "one", duration: 1}
	  - {id: two, title: Two, prompt: two, narration: "two", duration: 1}
	EOF
	filmeto-submit --queue --storyboard board.yaml > ids
	film=$(tail -n 1 ids)
	filmeto-run --spool --drain -j 2 &
	filmeto-run --spool --drain -j 2 &
	wait
	empty queue failed
	[ "$(ls "$SP/done" | wc -l)" -eq "$(wc -l < ids)" ]
	mp4=$(jget "$(logof "$film")" "[f for f in by('completed')[0]['output_files'] if f.endswith('.mp4')][0]")
	[ -s "$mp4" ]
	# Whichever worker took a task, it ran once.
	for id in $(cat ids); do
		[ "$(grep -c '"type":"claimed"' "$(logof "$id")")" -eq 1 ]
		[ "$(finals "$id")" -eq 1 ]
	done
}

@test "a dependency that failed fails its dependent without running it" {
	filmeto-submit --queue -t render -P gpu -p text=x -p mode=fail -i base
	noop -i after --depends base
	run filmeto-run --spool --drain
	[ "$status" -eq 1 ]
	jget "$(logof after)" "by('failed')[0]['error']['code']" | grep -qx DEPENDENCY_FAILED
	! grep -q '"started"' "$(logof after)"
}

@test "SIGTERM puts a running task back in the queue; the next worker finishes it as attempt 2" {
	queue_slow 3 -i long
	filmeto-run --spool --no-cache &
	w=$!
	wait_for running long
	kill -TERM $w
	st=0
	wait $w || st=$?
	[ "$st" -eq 130 ]
	ls "$SP"/queue/*.long
	[ "$(finals long)" -eq 0 ]
	grep -q 'the worker was interrupted: the task stays queued' "$(logof long)"
	sed -i 's/"delay":3/"delay":0/' "$SP"/queue/*.long
	run filmeto-run --spool --drain --no-cache
	[ "$status" -eq 0 ]
	[ "$(finals long)" -eq 1 ]
	jget "$(logof long)" "by('claimed')[-1]['attempt']" | grep -qx 2
	no_leftovers
}

@test "a worker killed with SIGKILL leaves its task to the next, which records the attempt" {
	queue_slow 30 -i victim
	filmeto-run --spool --no-cache &
	w=$!
	wait_for running victim
	# Running: the lock is held, so --cancel asks rather than ends it.
	kill -KILL $w
	wait $w || true
	ls "$SP"/queue/*.victim
	sed -i 's/"delay":30/"delay":0/' "$SP"/queue/*.victim
	run filmeto-run --spool --drain --no-cache
	[ "$status" -eq 0 ]
	[ "$(finals victim)" -eq 1 ]
	grep -q 'attempt 2: the worker of attempt 1 stopped before the task ended' "$(logof victim)"
	# One log counts one way: the second run's lines say attempt 2.
	jget "$(logof victim)" "by('started')[-1]['attempt']" | grep -qx 2
	jget "$(logof victim)" "by('completed')[0]['attempts']" | grep -qx 2
	no_leftovers
}

@test "a log cut mid-line by a crash is repaired before the next attempt" {
	noop -i torn
	name=$(ls "$SP/queue")
	printf '{"type":"claimed","task_id":"torn","attempt":1}\n{"type":"comp' > "$SP/log/$name"
	run filmeto-run --spool --drain --no-cache
	[ "$status" -eq 0 ]
	[ "$(finals torn)" -eq 1 ]
	jget "$SP/log/$name" "len(lines)" # every line parses
	jget "$SP/log/$name" "by('claimed')[-1]['attempt']" | grep -qx 2
}

@test "a task whose log already ends it is moved, not run again" {
	noop -i ended
	name=$(ls "$SP/queue")
	printf '%s\n' '{"type":"claimed","task_id":"ended","attempt":1}' \
		'{"type":"failed","task_id":"ended","status":"error","error":{"code":"SERVICE_ERROR","message":"m"}}' \
		> "$SP/log/$name"
	# The failure was an earlier worker's: this one ran nothing, so exits 0.
	run filmeto-run --spool --drain
	[ "$status" -eq 0 ]
	ls "$SP/failed/$name"
	[ "$(finals ended)" -eq 1 ]
	[ "$(grep -c claimed "$SP/log/$name")" -eq 1 ]
}

@test "two workers on 200 tasks: each task runs exactly once" {
	for i in $(seq 200); do
		printf '{"type":"task","task_id":"t%03d","tool_name":"noop","plugin_name":"noop"}\n' $i
	done > tasks
	filmeto-submit --queue --json tasks > ids
	[ "$(wc -l < ids)" -eq 200 ]
	filmeto-run --spool --drain --no-cache -j 2 &
	filmeto-run --spool --drain --no-cache -j 2 &
	filmeto-run --spool --drain --no-cache -j 1 &
	wait
	[ "$(ls "$SP/done" | wc -l)" -eq 200 ]
	empty queue failed tmp
	[ "$(cat "$SP"/log/* | grep -c '"type":"claimed"')" -eq 200 ]
	[ "$(cat "$SP"/log/* | grep -c '"type":"completed"')" -eq 200 ]
}

@test "crash test: 200 tasks, a worker SIGKILLed 20 times and restarted; every task done exactly once" {
	for i in $(seq 200); do
		printf '{"type":"task","task_id":"k%03d","tool_name":"render","plugin_name":"gpu","parameters":{"text":"x","mode":"slow","delay":0.02}}\n' $i
	done > tasks
	filmeto-submit --queue --json tasks > /dev/null
	# A killed worker's tasks come first in the queue, so the next worker
	# takes them first and may well die with them again: by chance, not
	# because they are poison. --max-claims 1000, here and in the drain,
	# keeps them from being failed as poison (spool_hostile.bats tests that).
	# Each worker is killed a random moment after it has claimed a task,
	# so the kill lands mid-work however slowly the machine starts it.
	all_claims() { cat "$SP"/log/* 2>/dev/null | grep -c '"type":"claimed"' || true; }
	for kill in $(seq 20); do
		before=$(all_claims)
		filmeto-run --spool --no-cache -j 4 --max-claims 1000 2>> worker.err &
		w=$!
		wait_for eval '[ "$(all_claims)" -gt "$before" ] || [ -z "$(ls "$SP/queue")" ]'
		sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
		kill -KILL $w
		wait $w || true
	done
	run filmeto-run --spool --drain --no-cache -j 4 --max-claims 1000
	[ "$status" -eq 0 ]
	[ "$(ls "$SP/done" | wc -l)" -eq 200 ]
	empty queue failed tmp
	# One final line per log, and every line whole (a torn one would not
	# parse): one interpreter for all 200 logs.
	python3 - "$SP"/log/* <<'PY'
import json, sys
for log in sys.argv[1:]:
    lines = [json.loads(l) for l in open(log) if l.strip()]
    finals = [l for l in lines if l.get("type") in ("completed", "failed", "cancelled")]
    assert len(finals) == 1, "%s: %d final lines" % (log, len(finals))
PY
	# Some kills landed mid-task: those tasks were taken again and say so.
	[ "$(cat "$SP"/log/* | grep -c '"attempt":2,"worker"')" -ge 1 ]
	no_leftovers
}

@test "--cancel ends a queued task at once; its dependents fail" {
	noop -i gone
	noop -i child --depends gone
	run filmeto-submit --cancel gone
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'gone\tcancelled')" ]
	ls "$SP"/failed/*.gone
	jget "$(logof gone)" "by('cancelled')[0]['error']['code']" | grep -qx TASK_CANCELLED
	run filmeto-run --spool --drain
	[ "$status" -eq 1 ]
	jget "$(logof child)" "by('failed')[0]['error']['message']" | grep -q "which was cancelled"
}

@test "--cancel asks the worker of a running task, which cancels it" {
	queue_slow 30 -i busy
	filmeto-run --spool --no-cache --grace 1 &
	w=$!
	wait_for running busy
	run filmeto-submit --cancel busy
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'busy\tcancelling')" ]
	wait_for in_dir failed busy
	jget "$(logof busy)" "by('cancelled')[0]['status']" | grep -qx cancelled
	empty cancel
	kill -TERM $w
	wait $w || true
	no_leftovers
}

@test "--cancel of a finished task exits 1, of an unknown one 2" {
	noop -i fin
	filmeto-run --spool --drain --no-cache
	run --separate-stderr filmeto-submit --cancel fin
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"task 'fin' had already finished"* ]]
	run --separate-stderr filmeto-submit --cancel nosuch
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"no task 'nosuch' in the spool"* ]]
	run --separate-stderr filmeto-submit --cancel
	[ "$status" -eq 2 ]
}

@test "--prune removes finished tasks older than AGE with their logs and outputs, and nothing else" {
	noop -i old
	noop -i new
	filmeto-run --spool --drain --no-cache
	noop -i waiting
	touch -d '3 days ago' "$SP"/done/*.old
	run filmeto-run --spool --prune 2d
	[ "$status" -eq 0 ]
	[ -z "$(ls "$SP/done" "$SP/log" | grep '\.old$')" ]
	[ ! -e "$SP/out/old" ]
	ls "$SP"/done/*.new "$SP"/log/*.new
	# Pruning alone runs nothing.
	ls "$SP"/queue/*.waiting
	run filmeto-run --spool --prune 0 --drain --no-cache
	[ "$status" -eq 0 ]
	[ -z "$(ls "$SP/done" | grep '\.new$')" ]
	ls "$SP"/done/*.waiting
}

@test "spool options are checked: exit 2 with a reason" {
	run --separate-stderr filmeto-run --drain
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"--drain needs --spool"* ]]
	run --separate-stderr filmeto-run --spool tasks.ndjson
	[ "$status" -eq 2 ]
	run --separate-stderr filmeto-run --spool --prune soon
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"'soon' is not an age"* ]]
	run --separate-stderr filmeto-run --spool -o film.mp4
	[ "$status" -eq 2 ]
	run --separate-stderr filmeto-submit --queue --each -t noop
	[ "$status" -eq 2 ]
}
