#!/usr/bin/env bats
# The spool on a network file system, as Slurm spool workers on many nodes
# share it. tests/nfsshim.so (LD_PRELOAD) gives flock(2) its NFS rules,
# where it is emulated with POSIX locks and fails with EBADF on a
# descriptor not open for writing, and takes inotify away on demand
# (FM_SHIM_NO_INOTIFY): a change another machine makes is never reported.

load test_helper

setup_file() {
	# Built by make test; a bats run of this file alone builds it.
	[ -e "$ROOT/tests/nfsshim.so" ] || make -s -C "$ROOT" tests/nfsshim.so >&2
}

setup() {
	common_setup
	private_plugins
	export FILMETO_SPOOL="$BATS_TEST_TMPDIR/spool"
	SP=$FILMETO_SPOOL
	export LD_PRELOAD="$ROOT/tests/nfsshim.so"
}

teardown() {
	jobs -p | xargs -r kill -KILL 2>/dev/null || true
}

running() { grep -q '"type":"started"' "$(logof "$1")" 2>/dev/null; }

@test "the shim gives flock NFS rules: a descriptor open read-only cannot be locked" {
	touch f
	lock() { python3 -c 'import fcntl, sys; fcntl.flock(open(sys.argv[1], sys.argv[2]), fcntl.LOCK_EX | fcntl.LOCK_NB)' f "$1"; }
	run lock r
	[ "$status" -ne 0 ]
	[[ "$output" == *"Bad file descriptor"* ]]
	lock r+
	lock a
}

@test "under NFS lock rules: --queue, a --drain worker and the claims work, each task once" {
	noop -i a
	noop -i b --depends a
	noop -i c --depends a
	noop -i d --depends b --depends c
	run --separate-stderr filmeto-run --spool --drain --no-cache
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ -z "$(ls -A "$SP/queue")" ]
	[ "$(ls "$SP/done" | wc -l)" -eq 4 ]
	for id in a b c d; do
		[ "$(finals $id)" -eq 1 ]
		[ "$(claims $id)" -eq 1 ]
	done
	# The queueing lock still keeps ids unique.
	run --separate-stderr noop -i a
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"the spool has a task of that id already"* ]]
}

@test "under NFS lock rules: --cancel ends a queued task, and a running one through its worker" {
	noop -i gone
	run filmeto-submit --cancel gone
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'gone\tcancelled')" ]
	in_dir failed gone
	queue_slow 30 -i busy
	filmeto-run --spool --no-cache --grace 1 &
	w=$!
	wait_for running busy
	# A worker's lock is seen from outside: the task is running.
	filmeto-watch --list | grep -q '^running .* busy'
	run filmeto-submit --cancel busy
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'busy\tcancelling')" ]
	wait_for in_dir failed busy
	jget "$(logof busy)" "by('cancelled')[0]['status']" | grep -qx cancelled
	kill -TERM $w
	wait $w || true
}

@test "a worker without inotify finds tasks and cancels queued after it started, by rescanning" {
	export FM_SHIM_NO_INOTIFY=1
	noop -i first
	filmeto-run --spool --no-cache --grace 1 2>worker.err &
	w=$!
	wait_for in_dir done first
	# No inotify instance in the worker: the shim took it away.
	! grep -qs '^inotify wd:' /proc/$w/fdinfo/*
	noop -i late
	wait_for in_dir done late
	queue_slow 30 -i busy
	wait_for running busy
	filmeto-submit --cancel busy
	wait_for in_dir failed busy
	kill -TERM $w
	st=0
	wait $w || st=$?
	[ "$st" -eq 130 ]
	for id in first late busy; do
		[ "$(finals $id)" -eq 1 ]
	done
}

@test "an older submitter's lock on queue/ itself still holds a new one back (a local file system)" {
	unset LD_PRELOAD
	noop -i first
	mkfifo hold
	# What an older filmeto-submit held while queueing: flock on queue/.
	python3 -c 'import fcntl, os, sys
fcntl.flock(os.open(sys.argv[1], os.O_RDONLY), fcntl.LOCK_EX)
open(sys.argv[2]).read()' "$SP/queue" hold &
	wait_for grep -q " FLOCK .* $! " /proc/locks
	filmeto-submit --queue -t noop -P noop -i second &
	q=$!
	# The new submitter waits for that lock, its own SPOOL/lock taken.
	wait_for grep -q -- "-> FLOCK .* $q " /proc/locks
	in_dir queue first
	! in_dir queue second
	echo > hold
	wait $q
	in_dir queue second
}

@test "SPOOL/lock planted as a symlink or a FIFO is refused with a reason; nothing is queued" {
	noop -i first
	echo keep > target
	rm "$SP/lock"
	ln -s "$BATS_TEST_TMPDIR/target" "$SP/lock"
	run --separate-stderr noop -i second
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"'$SP/lock' is a symbolic link: the spool's lock must be a regular file"* ]]
	[ "$(cat target)" = keep ]
	rm "$SP/lock"
	mkfifo "$SP/lock"
	run --separate-stderr timeout 10 filmeto-submit --queue -t noop -P noop -i second
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"'$SP/lock' is a FIFO: the spool's lock must be a regular file"* ]]
	! in_dir queue second
}
