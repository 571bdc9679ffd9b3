#!/usr/bin/env bats
# What a careless or hostile plugin does to its host, and what the host
# does about it: an exit noticed while a helper holds the plugin's output,
# daemons ended with their plugin, outputs only inside the task's folder
# (and a cache that never links what it did not make), keys out of /proc.
# The plugin is tests/plugins/hostile, one mode per attack.

load test_helper

setup() {
	common_setup
	private_plugins
}

teardown() {
	# Whatever a failing test left running must not outlive it.
	jobs -p | xargs -r kill -KILL 2>/dev/null || true
	[ -z "${DAEMON:-}" ] || kill -KILL "$DAEMON" 2>/dev/null || true
	[ -z "${SCRATCH:-}" ] || rm -rf "$SCRATCH"
}

# attack ID MODE [TEXT] [more parameters] [more task members]: one task
# line for the hostile plugin.
attack() {
	printf '{"type":"task","task_id":"%s","tool_name":"attack","plugin_name":"hostile","parameters":{"mode":"%s","text":"%s"%s}%s}\n' \
		"$1" "$2" "${3:-}" "${4:-}" "${5:-}"
}

# gone PID: no such process, not even a zombie.
gone() { [ ! -e "/proc/$1" ]; }

no_leftovers() {
	no_plugins_left
}

# --- the exit, not the end of output (item 3) -----------------------------

@test "a plugin that exits while its helper holds its stdout fails at once, with its status" {
	attack c exitleak > task
	start=$(date +%s)
	run --separate-stderr timeout 60 filmeto-run -d out task
	echo "$output" > events
	[ "$status" -eq 1 ]
	# The task's timeout is 60 s and its idle timeout 120 s: neither waited for.
	[ $(($(date +%s) - start)) -lt 15 ]
	[ "$(final c '["error"]["code"]')" = PLUGIN_EXECUTION_ERROR ]
	[ "$(final c '["error"]["details"]["exit_status"]')" = 3 ]
	[[ "$(final c '["error"]["message"]')" == *"plugin 'hostile' exited before answering; it exited with status 3"* ]]
	no_leftovers
}

@test "after a plugin's exit, the next task gets a fresh process and the helper is gone" {
	{ attack c exitleak; attack ok ok; } > task
	run --separate-stderr timeout 60 filmeto-run -j 1 -d out task
	echo "$output" > events
	[ "$status" -eq 1 ]
	[ "$(final c '["error"]["details"]["exit_status"]')" = 3 ]
	[ "$(final ok '["type"]')" = completed ]
	[ "$(cat out/ok/out.txt)" = fine ]
	no_leftovers
}

# --- daemons (item 4) -----------------------------------------------------

@test "a daemon a plugin double-forks does not outlive filmeto-run" {
	attack d daemon > task
	run --separate-stderr timeout 60 filmeto-run -d out task
	echo "$output" > events
	[ "$status" -eq 0 ]
	DAEMON=$(cat out/d/daemon.pid)
	[ "$DAEMON" -gt 1 ]
	gone "$DAEMON"
	no_leftovers
}

@test "a daemon is ended when its plugin stops, while filmeto-run goes on" {
	# The first plugin times out and is killed; the next task, on a fresh
	# process of the same plugin, looks for the daemon the first one left.
	{
		attack d daemonslow "" ',"delay":100' ',"timeout":2'
		attack after alive "$BATS_TEST_TMPDIR/out/d/daemon.pid"
	} > task
	run --separate-stderr timeout 60 filmeto-run -j 1 -d out task
	echo "$output" > events
	[ "$(final d '["error"]["code"]')" = TIMEOUT_ERROR ]
	[[ "$(final after '["metadata"]["daemon"]')" =~ ^(gone|Z)$ ]]
	DAEMON=$(cat out/d/daemon.pid)
	gone "$DAEMON"
	no_leftovers
}

@test "a child filmeto-run had before any plugin ran is no orphan of a plugin: it is left alone" {
	attack d daemon > task
	# The shell's background sleep becomes filmeto-run's child through exec.
	sh -c 'sleep 1000 & echo $! > older.pid; exec filmeto-run -d out task' > events
	older=$(cat older.pid)
	DAEMON=$(cat out/d/daemon.pid)
	gone "$DAEMON"
	kill -0 "$older"
	kill "$older"
}

@test "SIGTERM: the daemon of a running plugin goes with it" {
	attack d daemonslow "" ',"delay":100' > task
	filmeto-run -d out --grace 1 task > events &
	run_pid=$!
	wait_for test -s out/d/daemon.pid
	DAEMON=$(cat out/d/daemon.pid)
	kill -TERM "$run_pid"
	status=0
	wait "$run_pid" || status=$?
	[ "$status" -eq 130 ]
	gone "$DAEMON"
	no_leftovers
}

@test "three signals: filmeto-run exits at once and takes the daemon with it" {
	attack d daemonslow "" ',"delay":100' > task
	filmeto-run -d out --grace 60 task > events &
	run_pid=$!
	wait_for test -s out/d/daemon.pid
	DAEMON=$(cat out/d/daemon.pid)
	# Three different signals, so none is merged into another still pending.
	kill -TERM "$run_pid"
	kill -INT "$run_pid"
	kill -HUP "$run_pid"
	status=0
	wait "$run_pid" || status=$?
	[ "$status" -eq 130 ]
	wait_for gone "$DAEMON"
	no_leftovers
}

@test "filmeto-run --spool: a task's daemon does not outlive the worker" {
	export FILMETO_SPOOL="$BATS_TEST_TMPDIR/spool"
	filmeto-submit --queue -i d -t attack -P hostile -p mode=daemon
	run --separate-stderr timeout 60 filmeto-run --spool --drain
	[ "$status" -eq 0 ]
	DAEMON=$(cat "$FILMETO_SPOOL/out/d/daemon.pid")
	gone "$DAEMON"
	no_leftovers
}

# --- outputs: inside the task's folder, or taken into it (item 6, issue 16) --

# refused MODE REASON: the task fails naming its output and why, hands out nothing.
refused() {
	attack "$1" "$1" "$BATS_TEST_TMPDIR/outside.txt" > task
	run --separate-stderr timeout 60 filmeto-run -d out task
	echo "$output" > events
	[ "$status" -eq 1 ]
	[ "$(final "$1" '["error"]["code"]')" = PLUGIN_EXECUTION_ERROR ]
	[[ "$(final "$1" '["error"]["message"]')" == *"plugin 'hostile' named output '"*"$2"* ]]
	[ "$(final "$1" '["output_files"]')" = "[]" ]
	# Nothing of it in the cache, and the file outside is linked from nowhere.
	[ -z "$(find "$XDG_CACHE_HOME" -type f 2>/dev/null)" ]
	[ "$(stat -c %h "$BATS_TEST_TMPDIR/outside.txt")" -eq 1 ]
	[ "$(cat "$BATS_TEST_TMPDIR/outside.txt")" = precious ]
}

# copied MODE FILE NAME: the task succeeds with a copy of FILE as NAME in its
# folder; FILE, a user's (neither the plugin's folder nor the temp dir), stays.
copied() {
	mkdir -p scratch
	attack "$1" "$1" "$2" > task
	TMPDIR="$BATS_TEST_TMPDIR/scratch" run --separate-stderr timeout 60 filmeto-run -d out task
	echo "$output" > events
	[ "$status" -eq 0 ]
	[ "$(final "$1" '["output_files"]')" = "[\"$BATS_TEST_TMPDIR/out/$1/$3\"]" ]
	cmp "$2" "out/$1/$3"
	[ "$(stat -c %h "out/$1/$3")" -eq 1 ]
	[ "$(stat -c %i "$2")" != "$(stat -c %i "out/$1/$3")" ]
}

@test "an output named by an absolute path outside the task's folder is copied in, the user's file stays" {
	echo precious > outside.txt
	copied absolute "$BATS_TEST_TMPDIR/outside.txt" outside.txt
	[ "$(stat -c %h outside.txt)" -eq 1 ]
	[ "$(cat outside.txt)" = precious ]
}

@test "an output that leaves the folder through '..' is copied in as well" {
	copied dotdot "$BATS_TEST_TMPDIR/dotdot.txt" dotdot.txt
	[ "$(cat dotdot.txt)" = escaped ]
}

@test "an output that is a symbolic link to a file outside is refused" {
	echo precious > outside.txt
	refused symlink "/out/symlink/link', which is a symbolic link, not a regular file"
}

@test "an output reached through a link in the folder to a directory outside is refused" {
	echo precious > outside.txt
	refused linkdir "/out/linkdir/sub/outside.txt', which is outside the task's folder"
}

@test "an output that is a FIFO or a directory is refused" {
	echo precious > outside.txt
	refused fifo "/out/fifo/fifo', which is a FIFO, not a regular file"
	refused directory "/out/directory/dir', which is a directory, not a regular file"
}

@test "/etc/passwd as an output is copied, never moved or linked; a cached rerun gets a copy" {
	links=$(stat -c %h /etc/passwd)
	for run in 1 2; do
		attack p absolute /etc/passwd > task
		run --separate-stderr timeout 60 filmeto-run -d "out$run" task
		echo "$output" > events
		[ "$status" -eq 0 ]
		[ "$(final p '["output_files"]')" = "[\"$BATS_TEST_TMPDIR/out$run/p/passwd\"]" ]
		cmp /etc/passwd "out$run/p/passwd"
	done
	[ "$(final p '["metadata"]["cached"]')" = true ]
	[ "$(stat -c %h /etc/passwd)" -eq "$links" ]
	[ "$(stat -c %h out1/p/passwd)" -eq 1 ]
}

@test "the cache copies an output instead of linking it; a cached rerun gets a copy of its own" {
	attack ok ok > task
	filmeto-run -d out task > events
	[ "$(final ok '["type"]')" = completed ]
	[ "$(stat -c %h out/ok/out.txt)" -eq 1 ]
	entry=$(find "$XDG_CACHE_HOME/filmeto/outputs" -name '*-out.txt')
	[ -f "$entry" ]
	[ "$(stat -c %i "$entry")" != "$(stat -c %i out/ok/out.txt)" ]
	filmeto-run -d again task > events
	[ "$(final ok '["metadata"]["cached"]')" = true ]
	[ "$(stat -c %i again/ok/out.txt)" != "$(stat -c %i "$entry")" ]
	[ "$(stat -c %h again/ok/out.txt)" -eq 1 ]
	[ "$(cat again/ok/out.txt)" = fine ]
}

@test "a task folder planted as a symbolic link is refused, from a plugin and from the cache" {
	mkdir target out
	ln -s "$BATS_TEST_TMPDIR/target" out/planted
	attack planted ok > task
	run --separate-stderr timeout 60 filmeto-run -d out task
	echo "$output" > events
	[ "$status" -eq 1 ]
	[ "$(final planted '["error"]["message"]')" = "output folder '$BATS_TEST_TMPDIR/out/planted' is a symbolic link; refusing to use it" ]
	[ -z "$(ls -A target)" ]
	# The same task in the cache, then the link planted where a rerun would restore it.
	filmeto-run -d fresh task > events
	[ "$(final planted '["type"]')" = completed ]
	run --separate-stderr timeout 60 filmeto-run -d out task
	echo "$output" > events
	[ "$status" -eq 1 ]
	[ -z "$(ls -A target)" ]
}

# --- keys out of /proc (item 9) ------------------------------------------

@test "a plugin finds no key in filmeto-run's /proc environ, and only its own in its own" {
	export FM_TEST_DECLARED_KEY=declared-4242 FM_TEST_OTHER_TOKEN=planted-9191
	export FM_TEST_PASSWORD=planted-7373
	attack e environ declared-4242,planted-9191,planted-7373 > task
	filmeto-run -d out task > events
	[ "$(final e '["metadata"]["parent"]')" = "[]" ]
	# The plugin has its own key (its report file says so; what it sends
	# back has the key redacted, as a key echoed by any plugin is).
	[ "$(jget out/e/report.json 'lines[0]["self"]')" = '["declared-4242"]' ]
	[ "$(final e '["metadata"]["self"]')" = '["[redacted]"]' ]
	# Exactly what the manifest's env: names, and no other secret.
	[ "$(jget events '"FM_TEST_DECLARED_KEY" in by("completed")[0]["metadata"]["env"]')" = true ]
	[ "$(jget events '[n for n in by("completed")[0]["metadata"]["env"] if "TOKEN" in n or "PASSWORD" in n]')" = "[]" ]
	# Nothing of it anywhere in the events either.
	! grep -q planted- events
}

@test "no filmeto process of a pipeline shows a key in /proc while a plugin runs" {
	export FM_TEST_OTHER_TOKEN=planted-9191 HF_TOKEN=planted-6464
	filmeto-submit -t attack -P hostile -i e -p mode=environ -p text=planted-9191,planted-6464 |
		filmeto-run -d out | tee events | filmeto-watch > /dev/null
	[ "$(final e '["type"]')" = completed ]
	[ "$(final e '["metadata"]["filmeto"]')" = "[]" ]
	[ "$(final e '["metadata"]["parent"]')" = "[]" ]
}

@test "a spool worker shows no key in its /proc environ either" {
	export FILMETO_SPOOL="$BATS_TEST_TMPDIR/spool" FM_TEST_OTHER_TOKEN=planted-9191
	filmeto-submit --queue -i e -t attack -P hostile -p mode=environ -p text=planted-9191
	run --separate-stderr timeout 60 filmeto-run --spool --drain
	[ "$status" -eq 0 ]
	[ "$(jget "$FILMETO_SPOOL/out/e/report.json" 'lines[0]["parent"]')" = "[]" ]
}

@test "filmeto-run is not dumpable: a plugin of the same user cannot read its environ at all" {
	# Root reads any process's environ; the test runs filmeto-run as
	# nobody when it is root, so the plugin is a same-user process.
	local as=()
	if [ "$(id -u)" -eq 0 ]; then
		command -v setpriv > /dev/null || skip "needs setpriv to drop root"
		as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	fi
	SCRATCH=$(mktemp -d /tmp/filmeto-dumpable.XXXXXX)
	chmod 755 "$SCRATCH"
	cp -R "$ROOT/tests/plugins/hostile" "$SCRATCH/hostile"
	attack e environ planted-9191 > "$SCRATCH/task"
	chmod -R a+rwX "$SCRATCH"
	cd "$SCRATCH"
	env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$SCRATCH" FILMETO_PLUGIN_PATH="$SCRATCH" \
		XDG_CACHE_HOME="$SCRATCH/cache" XDG_CONFIG_HOME="$SCRATCH/config" \
		XDG_DATA_HOME="$SCRATCH/data" FM_TEST_OTHER_TOKEN=planted-9191 \
		"${as[@]}" "$ROOT/cmd/filmeto-run" -d "$SCRATCH/out" "$SCRATCH/task" > events
	[ "$(final e '["type"]')" = completed ]
	[ "$(final e '["metadata"]["parent"]')" = "unreadable: Permission denied" ]
}

@test "a key handed to a plugin never comes back out of it, in any language, in any spelling it echoes" {
	export FM_TEST_DECLARED_KEY="sk-live-0123456789abcdef"
	{
		attack e1 echokey
		attack e2 echokeyfail
	} > tasks
	run --separate-stderr filmeto-run -d out tasks
	[ "$status" -eq 1 ]
	echo "$output" > events
	echo "$stderr" > errors
	[ "$(final e1 "['status']")" = success ]
	[ "$(final e2 "['status']")" = error ]
	# What it echoed is there, the key is not: events, errors, the cache.
	[ "$(final e1 "['metadata']['echo']")" = "[redacted]" ]
	[[ "$(final e2 "['error']['message']")" == *"bad key [redacted]"* ]]
	jget events '[l["message"] for l in by("log")]' | grep -F 'using key [redacted]'
	jget events '[l["message"] for l in by("progress") if "message" in l]' | grep -F 'key [redacted]'
	run python3 "$FAKES/fakelib.py" leaks "$FM_TEST_DECLARED_KEY" events errors out "$XDG_CACHE_HOME"
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
}
