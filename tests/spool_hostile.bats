#!/usr/bin/env bats
# The spool against what hostile or unlucky neighbours leave in it: a
# task that kills every worker that takes it, symlinks and special files
# planted among its entries, a log that cannot be written, submitters
# racing for one id, and a prune that cannot delete. Each test would
# pass against a spool that trusted its directory, and must not.

load test_helper

setup() {
	common_setup
	private_plugins
	export FILMETO_SPOOL="$BATS_TEST_TMPDIR/spool"
	SP=$FILMETO_SPOOL
	MNT=
}

teardown() {
	jobs -p | xargs -r kill -KILL 2>/dev/null || true
	if [ -n "$MNT" ]; then umount "$MNT" 2>/dev/null || true; fi
}

poison() { filmeto-submit --queue -t killworker -P hostkill "$@"; }
# sigtask VIA SIGNAL ARGS...: a task whose plugin (VIA self, child or daemon) signals its worker.
sigtask() { filmeto-submit --queue -t signalworker -P hostsig -p via="$1" -p signal="$2" "${@:3}"; }
released() { grep -c '"released":true' "$(logof "$1")" || true; }

nameof() { basename "$(echo "$SP"/*/*."$1" | cut -d' ' -f1)"; }

# drain [ARGS...]: one --drain worker, which must end within 60 s.
drain() { timeout 60 filmeto-run --spool --drain --no-cache "$@"; }

# sock PATH: a Unix socket (left behind by a process that is gone).
sock() { python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$1"; }

# --- a task that kills its worker ------------------------------------------

@test "a task that kills its worker three times is failed by the fourth, which runs the rest" {
	poison -i poison
	noop -i after
	# -j 1: the poison comes first in the queue, so each worker dies on it.
	for i in 1 2 3; do
		st=0
		drain -j 1 2> "worker$i.err" || st=$?
		[ "$st" -eq 137 ] # SIGKILL: the worker really died
		in_dir queue poison
		[ "$(claims poison)" -eq "$i" ]
	done
	[ "$(finals poison)" -eq 0 ]
	run --separate-stderr drain -j 1
	[ "$status" -eq 1 ] # a task failed
	in_dir failed poison
	in_dir done after
	# No fourth claim: the task was not started again.
	[ "$(claims poison)" -eq 3 ]
	[ "$(finals poison)" -eq 1 ]
	jget "$(logof poison)" "by('failed')[0]['error']['code']" | grep -qx PLUGIN_EXECUTION_ERROR
	jget "$(logof poison)" "by('failed')[0]['error']['message']" |
		grep -F "claimed 3 times by workers that died; not claimed again"
	run filmeto-watch --status poison
	[ "$status" -eq 1 ]
	[[ "$output" == *'"state":"failed"'* ]]
	[[ "$output" == *'"attempts":3'* ]]
}

@test "--max-claims sets how many deaths a task may cause; a worker stopped by a signal is no death" {
	poison -i poison
	st=0
	drain -j 1 || st=$?
	[ "$st" -eq 137 ]
	run --separate-stderr drain --max-claims 1
	[ "$status" -eq 1 ]
	in_dir failed poison
	jget "$(logof poison)" "by('failed')[0]['error']['message']" | grep -F "claimed 1 time by a worker that died"

	# SIGTERM puts a task back: three of them do not fail it, even with 1.
	queue_slow 30 -i patient
	for i in 1 2 3; do
		filmeto-run --spool --no-cache --max-claims 1 2> "term$i.err" &
		w=$!
		for _ in $(seq 200); do grep -qs '"type":"started"' "$(logof patient)" &&
			[ "$(grep -c '"type":"started"' "$(logof patient)")" -ge "$i" ] && break; sleep 0.05; done
		kill -TERM $w
		st=0
		wait $w || st=$?
		[ "$st" -eq 130 ]
	done
	sed -i 's/"delay":30/"delay":0/' "$SP"/queue/*.patient
	run --separate-stderr drain --max-claims 1
	[ "$status" -eq 0 ]
	in_dir done patient
	[ "$(claims patient)" -eq 4 ]
}

@test "a task whose plugin signals its worker counts as a death, whoever in the plugin sends it" {
	sigtask self TERM -i term
	noop -i after
	# Stopped twice by its own plugin: each worker exits 130, and gives nothing back.
	for i in 1 2; do
		st=0
		drain -j 1 --max-claims 2 --grace 0.5 2> "worker$i.err" || st=$?
		[ "$st" -eq 130 ]
		in_dir queue term
		[ "$(claims term)" -eq "$i" ]
		[ "$(released term)" -eq 0 ]
		grep -q "stopped by signal 15 (Terminated) from process [0-9]*, which the task's plugin started" "$(logof term)"
	done
	run --separate-stderr drain -j 1 --max-claims 2
	[ "$status" -eq 1 ]
	in_dir failed term
	in_dir done after
	[ "$(claims term)" -eq 2 ]
	jget "$(logof term)" "by('failed')[0]['error']['message']" | grep -F "claimed 2 times by workers that died"

	# From a child in its group, SIGINT; from a daemon that left it, SIGHUP.
	sigtask child INT -i int
	sigtask daemon HUP -i hup
	for t in int hup; do
		st=0
		drain -j 1 --max-claims 1 --grace 0.5 || st=$?
		[ "$st" -eq 130 ]
		[ "$(claims $t)" -eq 1 ]
		[ "$(released $t)" -eq 0 ]
	done
	run --separate-stderr drain -j 1 --max-claims 1
	[ "$status" -eq 1 ]
	in_dir failed int
	in_dir failed hup
	[ "$(claims int)" -eq 1 ]
	[ "$(claims hup)" -eq 1 ]
	# The daemon was ended with its worker.
	[ "$(plugin_procs)" -eq 0 ]
}

@test "only the task whose plugin signalled is to blame: one running beside it is put back" {
	queue_slow 30 -i bystander
	sigtask self TERM -i culprit
	st=0
	drain -j 2 --grace 0.5 || st=$?
	[ "$st" -eq 130 ]
	in_dir queue bystander
	in_dir queue culprit
	[ "$(released bystander)" -eq 1 ]
	[ "$(released culprit)" -eq 0 ]
}

@test "a signal from outside the worker still puts its task back" {
	queue_slow 30 -i patient
	started() { grep -c '"type":"started"' "$(logof patient)" 2> /dev/null || echo 0; }
	# kill(1), a process that is gone before the worker looks at who sent it.
	filmeto-run --spool --no-cache --max-claims 1 2> w1.err &
	w=$!
	for _ in $(seq 200); do [ "$(started)" -ge 1 ] && break; sleep 0.05; done
	/bin/kill -TERM $w
	st=0
	wait $w || st=$?
	[ "$st" -eq 130 ]
	# A child the worker had before any plugin ran: the shell's it was exec'd from.
	# shellcheck disable=SC2016
	st=0
	bash -c '(while [ "$(grep -c "\"type\":\"started\"" "$1" 2> /dev/null)" != 2 ]; do sleep 0.05; done
		kill -TERM $$) & exec filmeto-run --spool --no-cache --max-claims 1' sh "$(logof patient)" \
		2> w2.err || st=$?
	[ "$st" -eq 130 ]
	[ "$(released patient)" -eq 2 ]
	! grep -q "which the task's plugin started" "$(logof patient)"
	sed -i 's/"delay":30/"delay":0/' "$SP"/queue/*.patient
	run --separate-stderr drain --max-claims 1
	[ "$status" -eq 0 ]
	in_dir done patient
}

@test "--max-claims is checked and documented" {
	run --separate-stderr filmeto-run --spool --max-claims 0
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"--max-claims: '0' is not a number of claims from 1 to"* ]]
	run --separate-stderr filmeto-run --spool --max-claims many
	[ "$status" -eq 2 ]
	run --separate-stderr filmeto-run --max-claims 3
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"--max-claims needs --spool"* ]]
	filmeto-run --help | grep -q -- '--max-claims N'
	grep -q 'Fl -max-claims' "$ROOT/man/man1/filmeto-run.1"
}

# --- symlinks and special files ---------------------------------------------

@test "a symlink at out/ID fails that task; nothing is written through it" {
	mkdir target
	queue_slow 0 -i victim
	queue_slow 0 -i bystander
	ln -s "$BATS_TEST_TMPDIR/target" "$SP/out/victim"
	run --separate-stderr drain
	[ "$status" -eq 1 ]
	[ -z "$(ls -A target)" ]
	[ -L "$SP/out/victim" ]
	in_dir failed victim
	jget "$(logof victim)" "by('failed')[0]['error']['message']" | grep -F "is a symbolic link"
	! grep -q '"type":"started"' "$(logof victim)"
	in_dir done bystander
	[ -s "$SP/out/bystander/out.txt" ]
	# Nor a file in its place.
	queue_slow 0 -i plain
	echo keep > "$SP/out/plain"
	run --separate-stderr drain
	[ "$status" -eq 1 ]
	[ "$(cat "$SP/out/plain")" = keep ]
	jget "$(logof plain)" "by('failed')[0]['error']['message']" | grep -F "not a directory"
}

@test "a symlink at log/NAME is skipped with a warning; its target is not written" {
	echo precious > target.log
	noop -i victim
	noop -i bystander
	ln -s "$BATS_TEST_TMPDIR/target.log" "$SP/log/$(nameof victim)"
	run --separate-stderr drain
	[ "$status" -eq 0 ]
	[ "$(cat target.log)" = precious ]
	in_dir queue victim
	in_dir done bystander
	[[ "$stderr" == *"skipping '$SP/log/$(nameof victim)': a symbolic link"* ]]
	run --separate-stderr timeout 10 filmeto-watch --status victim
	[ "$status" -eq 3 ]
	[[ "$output" == *'"state":"queued"'* ]]
	run --separate-stderr timeout 10 filmeto-watch --list
	[ "$status" -eq 0 ]
	[ "$(cat target.log)" = precious ]
}

@test "a symlink at queue/NAME is not a task: skipped, never run" {
	noop -i bystander
	printf '{"type":"task","task_id":"planted","tool_name":"render","plugin_name":"gpu","parameters":{"text":"x"}}\n' > planted.task
	ln -s "$BATS_TEST_TMPDIR/planted.task" "$SP/queue/0000000000000001.planted"
	run --separate-stderr drain
	[ "$status" -eq 0 ]
	in_dir done bystander
	[ ! -e "$SP/out/planted" ]
	[ ! -e "$SP/log/0000000000000001.planted" ]
	[ -L "$SP/queue/0000000000000001.planted" ]
	[[ "$stderr" == *"skipping '$SP/queue/0000000000000001.planted': a symbolic link"* ]]
	# Said once, not once per look.
	[ "$(grep -c 'skipping' <<< "$stderr")" -eq 1 ]
}

@test "a symlink at done/NAME is no task: --list, --status and --prune leave its target alone" {
	echo precious > target
	touch -d '3 days ago' target
	filmeto-watch --list # makes the spool
	ln -s "$BATS_TEST_TMPDIR/target" "$SP/done/0000000000000001.planted"
	run --separate-stderr timeout 10 filmeto-watch --list
	[ "$status" -eq 0 ]
	[[ "$output" != *planted* ]]
	[[ "$stderr" == *"skipping '$SP/done/0000000000000001.planted': a symbolic link"* ]]
	run --separate-stderr timeout 10 filmeto-watch --status planted
	[ "$status" -eq 2 ]
	run --separate-stderr timeout 10 filmeto-run --spool --prune 1d
	[ "$status" -eq 0 ]
	[ "$(cat target)" = precious ]
}

# special NAME...: a FIFO, a directory and a socket under the spool, at NAME.fifo, NAME.dir and NAME.sock.
special() {
	local p
	for p; do
		mkfifo "$p.fifo"
		mkdir "$p.dir"
		touch "$p.dir/inside"
		sock "$p.sock"
	done
}

@test "a FIFO, a directory and a socket in queue/ are skipped; the worker runs the rest" {
	noop -i first
	special "$SP/queue/0000000000000001.odd"
	noop -i last
	run --separate-stderr drain
	[ "$status" -eq 0 ]
	in_dir done first
	in_dir done last
	for k in fifo dir sock; do
		[[ "$stderr" == *"skipping '$SP/queue/0000000000000001.odd.$k'"* ]]
	done
	[[ "$stderr" == *"a FIFO"* && "$stderr" == *"a directory"* && "$stderr" == *"a socket"* ]]
	run --separate-stderr timeout 10 filmeto-watch --list
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	# A waiting worker too: it goes on taking new tasks.
	filmeto-run --spool --no-cache 2> worker.err &
	w=$!
	noop -i later
	for _ in $(seq 200); do in_dir done later && break; sleep 0.05; done
	in_dir done later
	kill -TERM $w
	wait $w || true
}

@test "a FIFO, a directory or a socket as a task's log: the task is skipped, the rest run, watch returns" {
	for k in fifo dir sock; do noop -i "$k"; done
	noop -i plain
	mkfifo "$SP/log/$(nameof fifo)"
	mkdir "$SP/log/$(nameof dir)"
	sock "$SP/log/$(nameof sock)"
	run --separate-stderr drain
	[ "$status" -eq 0 ]
	in_dir done plain
	said=$stderr
	for k in fifo dir sock; do
		in_dir queue "$k"
		[[ "$said" == *"skipping '$SP/log/$(nameof "$k")'"* ]]
		run --separate-stderr timeout 10 filmeto-watch --status "$k"
		[ "$status" -eq 3 ]
		[[ "$output" == *'"attempts":0'* ]]
	done
	run --separate-stderr timeout 10 filmeto-watch --list
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 4 ]
	# A finished task whose log became a FIFO: --follow says so and ends.
	mv "$SP/queue/$(nameof fifo)" "$SP/done/"
	run --separate-stderr timeout 10 filmeto-watch --follow fifo
	[ "$status" -ne 124 ]
	[[ "$stderr" == *"task 'fifo'"*"not a regular file"* ]]
}

@test "a FIFO, a directory or a socket in cancel/ is no cancel request; in done/ no task" {
	for k in fifo dir sock; do noop -i "$k"; done
	special "$SP/cancel/x"
	mv "$SP/cancel/x.fifo" "$SP/cancel/fifo"
	mv "$SP/cancel/x.dir" "$SP/cancel/dir"
	mv "$SP/cancel/x.sock" "$SP/cancel/sock"
	special "$SP/done/0000000000000001.odd"
	run --separate-stderr drain
	[ "$status" -eq 0 ]
	for k in fifo dir sock; do
		in_dir done "$k"
		jget "$(logof "$k")" "by('completed')[0]['status']" | grep -qx success
	done
	[[ "$stderr" == *"skipping '$SP/cancel/fifo': a FIFO"* ]]
	run --separate-stderr timeout 10 filmeto-watch --list
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	run --separate-stderr timeout 10 filmeto-watch --status odd.fifo
	[ "$status" -eq 2 ]
	run --separate-stderr timeout 10 filmeto-watch --all
	[ "$status" -ne 124 ]
	# --cancel cannot put its request over a directory: it says so, exit 1.
	noop -i blocked
	mkdir "$SP/cancel/blocked"
	touch "$SP/cancel/blocked/inside"
	run --separate-stderr timeout 10 filmeto-submit --cancel blocked
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"blocked"* ]]
}

# --- entries too big, hard links ---------------------------------------------

@test "a queue entry over the line limit is failed, naming the file and the limit; the rest run" {
	noop -i first
	filmeto-watch --list > /dev/null
	head -c 5000000 /dev/zero | tr '\0' a > "$SP/queue/0000000000000009.huge"
	# One that is no JSON at all, and one just over the limit.
	head -c 4194305 /dev/zero | tr '\0' '{' > "$SP/queue/000000000000000a.over"
	noop -i last
	run --separate-stderr drain
	[ "$status" -eq 1 ] # tasks failed; the worker itself did not
	in_dir done first
	in_dir done last
	in_dir failed huge
	in_dir failed over
	jget "$(logof huge)" "by('failed')[0]['error']['code']" | grep -qx VALIDATION_ERROR
	jget "$(logof huge)" "by('failed')[0]['error']['message']" |
		grep -F "task 'huge': '$SP/queue/0000000000000009.huge' is 5000000 bytes, larger than the limit of 4194304 bytes"
	jget "$(logof over)" "by('failed')[0]['error']['message']" | grep -F "is 4194305 bytes"
	run --separate-stderr timeout 10 filmeto-watch --status huge
	[ "$status" -eq 1 ]
	[[ "$output" == *'"state":"failed"'*VALIDATION_ERROR* ]]
}

@test "a log bigger than a worker writes: that task is skipped, named; the rest run, watch returns" {
	noop -i big
	noop -i fine
	log=$SP/log/$(nameof big)
	truncate -s 40M "$log"
	run --separate-stderr drain
	[ "$status" -eq 0 ]
	in_dir done fine
	in_dir queue big
	[[ "$stderr" == *"skipping '$log': 41943040 bytes, more than a task log holds (33554432 bytes)"* ]]
	[ "$(stat -c %s "$log")" -eq 41943040 ]
	run --separate-stderr timeout 10 filmeto-watch --status big
	[ "$status" -eq 3 ]
	[[ "$output" == *'"state":"queued"'* ]]
	[[ "$stderr" == *"skipping '$log': 41943040 bytes"* ]]
	run --separate-stderr timeout 10 filmeto-watch --list
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	run --separate-stderr timeout 10 filmeto-watch --follow big
	[ "$status" -ne 124 ]
	[[ "$stderr" == *"task 'big' has a log that is not read: 41943040 bytes, more than a task log holds"* ]]
	# Finished, with a log grown past it: --status and --follow still return.
	mv "$SP/queue/$(nameof big)" "$SP/done/"
	run --separate-stderr timeout 10 filmeto-watch --status big
	[ "$status" -eq 0 ]
	[[ "$output" == *'"state":"done"'*'"result":null'* ]]
	run --separate-stderr timeout 10 filmeto-watch --follow big
	[ "$status" -ne 124 ]
	[[ "$stderr" == *"task 'big' has a log that is not read"* ]]
	# A log at the bound is still read.
	noop -i edge
	truncate -s 33554432 "$SP/log/$(nameof edge)"
	run --separate-stderr drain
	[ "$status" -eq 0 ]
	in_dir done edge
}

@test "a hard link in the spool is never written through: its other name keeps its bytes" {
	printf 'line one\nsecret no newline' > outside
	cp outside outside.orig
	noop -i victim
	noop -i bystander
	ln outside "$SP/log/$(nameof victim)"
	# A task file that is a hard link too: never run, never touched.
	printf '{"type":"task","task_id":"linked","tool_name":"noop","plugin_name":"noop","parameters":{}}\n' > task.line
	touch -d '2001-01-01' task.line
	ln task.line "$SP/queue/0000000000000001.linked"
	run --separate-stderr drain
	[ "$status" -eq 0 ]
	cmp outside outside.orig
	[ "$(stat -c %Y task.line)" = "$(date -d 2001-01-01 +%s)" ]
	in_dir done bystander
	in_dir queue victim
	in_dir queue linked
	[ ! -e "$SP/log/0000000000000001.linked" ]
	[[ "$stderr" == *"skipping '$SP/log/$(nameof victim)': a hard link (2 names)"* ]]
	[[ "$stderr" == *"skipping '$SP/queue/0000000000000001.linked': a hard link (2 names)"* ]]
	run --separate-stderr timeout 10 filmeto-watch --status victim
	[ "$status" -eq 3 ]
	run --separate-stderr timeout 10 filmeto-submit --cancel victim
	[ "$status" -ne 124 ]
	[[ "$stderr" == *"a hard link (2 names)"* ]]
	cmp outside outside.orig
	# The spool itself never makes one.
	! grep -nE '\b(link|linkat)\(' "$ROOT/lib/spool.c" "$ROOT/lib/spool_work.c"
}

# --- tasks that wait on themselves ------------------------------------------

# plant SEQ ID DEPS [RESOURCES]: a task line written into queue/ by hand.
plant() {
	printf '{"type":"task","task_id":"%s","tool_name":"noop","plugin_name":"noop","parameters":{},"depends_on":%s,"resources":%s}\n' \
		"$2" "$3" "${4:-[]}" > "$SP/queue/$1.$2"
}

@test "a planted task on a dependency cycle is failed; --drain ends, the rest run" {
	noop -i ok
	plant 0000000000000001 self '["self"]'
	plant 0000000000000002 own '[]' '[{"type":"task_output","data":"own#0"}]'
	plant 0000000000000003 a '["b","ok"]'
	plant 0000000000000004 b '[]' '[{"type":"task_output","data":"c"}]'
	plant 0000000000000005 c '["a"]'
	plant 0000000000000006 d '["c"]'
	run --separate-stderr drain
	[ "$status" -eq 1 ]
	in_dir done ok
	for t in self own a b c d; do in_dir failed "$t"; done
	jget "$(logof self)" "by('failed')[0]['error']['message']" | grep -Fx "task 'self' is on a dependency cycle: self -> self"
	jget "$(logof own)" "by('failed')[0]['error']['code']" | grep -qx VALIDATION_ERROR
	jget "$(logof b)" "by('failed')[0]['error']['message']" | grep -Fx "task 'b' is on a dependency cycle: b -> c -> a -> b"
	jget "$(logof d)" "by('failed')[0]['error']['code']" | grep -qx DEPENDENCY_FAILED
	! grep -q '"type":"started"' "$SP"/log/*.{self,own,a,b,c,d}
	# Two workers at once end too; whichever fails the ring exits 1.
	plant 0000000000000007 x '["y"]'
	plant 0000000000000008 y '["x"]'
	drain -j 1 > /dev/null 2>&1 &
	p=$!
	st=0
	drain -j 1 || st=$?
	st2=0
	wait $p || st2=$?
	[ "$st" -le 1 ] && [ "$st2" -le 1 ] && [ $((st + st2)) -ge 1 ]
	in_dir failed x
	in_dir failed y
}

@test "a folder of the spool that is a symlink is refused" {
	mkdir -p "$SP" elsewhere
	ln -s "$BATS_TEST_TMPDIR/elsewhere" "$SP/log"
	run --separate-stderr noop -i x
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"'$SP/log'"*"symbolic link"* ]]
	[ -z "$(ls -A elsewhere)" ]
}

# --- writes that fail -----------------------------------------------------

@test "a worker that cannot write a log (ulimit -f 0) leaves the task queued and exits 1" {
	noop -i blocked
	# Only the worker is limited: its stderr goes through a pipe to cat, which is not.
	run --separate-stderr timeout 60 bash -c 'set -o pipefail
		(ulimit -f 0; exec filmeto-run --spool --drain --no-cache) 2>&1 | cat >&2'
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"cannot write '$SP/log/$(nameof blocked)': File too large"* ]]
	in_dir queue blocked
	[ -z "$(ls "$SP/done")" ]
	run filmeto-watch --status blocked
	[ "$status" -eq 3 ]
	[[ "$output" == *'"state":"queued"'* ]]
	# Once it can, the next worker runs it.
	run drain
	[ "$status" -eq 0 ]
	in_dir done blocked
	[ "$(finals blocked)" -eq 1 ]
}

@test "a worker on a full file system (ENOSPC) leaves the task queued and exits 1" {
	[ "$(id -u)" -eq 0 ] || skip "mounting a tiny tmpfs needs root"
	mkdir small
	mount -t tmpfs -o size=64k tmpfs small 2> /dev/null || skip "cannot mount a tmpfs here"
	MNT=$BATS_TEST_TMPDIR/small
	export FILMETO_SPOOL=$MNT/spool
	SP=$FILMETO_SPOOL
	noop -i full
	dd if=/dev/zero of="$MNT/filler" bs=4k 2> /dev/null || true
	run --separate-stderr drain -d "$BATS_TEST_TMPDIR/out"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"No space left on device"* ]]
	in_dir queue full
	rm "$MNT/filler"
	run drain -d "$BATS_TEST_TMPDIR/out"
	[ "$status" -eq 0 ]
	in_dir done full
	[ "$(finals full)" -eq 1 ]
}

# --- one id, many submitters ----------------------------------------------

@test "submitters racing for one id: exactly one queues it, the rest exit 2" {
	noop -i warm # the spool exists before the race
	# Three rounds, all at once in each: every one waits to open the FIFO
	# go.ROUND for reading, which the test's own open releases at once
	# (not a poll of 24 shells, each forking a sleep every 10 ms).
	for round in 1 2 3; do
		mkfifo "go.$round"
		for i in $(seq 24); do
			(
				touch "ready.$round.$i"
				: < "go.$round"
				st=0
				noop -i "same$round" > "out.$round.$i" 2> "err.$round.$i" || st=$?
				echo $st > "st.$round.$i"
			) &
		done
		wait_for eval '[ "$(ls | grep -c "^ready\.$round\.")" -eq 24 ]'
		# Read and write: the open does not wait, and holding it open lets
		# a shell still on its way to the FIFO through as well.
		exec {go}<> "go.$round"
		wait
		exec {go}>&-
		[ "$(cat st.$round.* | grep -cx 0)" -eq 1 ]
		[ "$(cat st.$round.* | grep -cx 2)" -eq 23 ]
		[ "$(ls "$SP/queue" | grep -c "\\.same$round\$")" -eq 1 ]
		[ "$(cat err.$round.* | grep -c "task 'same$round': the spool has a task of that id already")" -eq 23 ]
	done
}

# --- prune that cannot delete ------------------------------------------------

@test "--prune that cannot remove something names it, goes on, and exits 1" {
	noop -i stuck
	noop -i fine
	drain
	# A directory with contents where the log should be: unlink(2) fails, as root too.
	log=$SP/log/$(nameof stuck)
	rm "$log"
	mkdir "$log"
	touch "$log/inside"
	run --separate-stderr filmeto-run --spool --prune 0
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"cannot remove '$log': Is a directory"* ]]
	# The rest was pruned all the same.
	[ -z "$(ls "$SP/done")" ]
	[ -z "$(ls "$SP/log" | grep '\.fine$')" ]
}

@test "--prune of a read-only spool says what it could not remove (not as root)" {
	[ "$(id -u)" -ne 0 ] || skip "root may write a read-only directory"
	noop -i ro
	drain
	chmod a-w "$SP/done"
	run --separate-stderr filmeto-run --spool --prune 0
	chmod u+w "$SP/done"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"cannot remove '$SP/done/"*"': Permission denied"* ]]
}
