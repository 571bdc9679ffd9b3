#!/usr/bin/env bats
# The spool examples under share/filmeto/examples run as written: the
# commands of spool-cron's crontab lines and the shell of spool-ci.yml's
# jobs are taken from the files themselves, so neither can rot.

load test_helper

EXAMPLES="$ROOT/share/filmeto/examples"

setup() {
	common_setup
	export FILMETO_SPOOL="$BATS_TEST_TMPDIR/spool"
	SP=$FILMETO_SPOOL
}

teardown() {
	# A worker a failed test left behind must not outlive it.
	local p
	for p in $(jobs -p); do kill -KILL "$p" 2>/dev/null || true; done
}

# cron_commands: the commands of spool-cron, one per line, without their
# five time fields; variable settings and comments are not commands.
cron_commands() {
	awk '!/^[ \t]*(#|$)/ && $1 !~ /=/ {
		for (i = 1; i <= 5; i++) sub(/^[ \t]*[^ \t]+/, "")
		sub(/^[ \t]+/, ""); print }' "$EXAMPLES/spool-cron"
}

# ci_job NAME: the shell of the run steps of job NAME in spool-ci.yml.
ci_job() {
	ci_steps "$EXAMPLES/spool-ci.yml" "$1"
}

watch_follows() { filmeto-watch --help | grep -q -- '--follow'; }

@test "spool-cron has a nightly drain and a weekly prune" {
	run cron_commands
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[0]}" == "filmeto-run --spool --drain"* ]]
	[[ "${lines[1]}" == "filmeto-run --spool --prune "* ]]
	# The time fields: daily, and weekly on one day.
	grep -qE '^[0-9]+ +[0-9]+ +\* +\* +\* +filmeto-run --spool --drain' "$EXAMPLES/spool-cron"
	grep -qE '^[0-9]+ +[0-9]+ +\* +\* +[0-7] +filmeto-run --spool --prune' "$EXAMPLES/spool-cron"
}

@test "spool-cron's drain, run twice at once as overlapping nights would, runs each task once" {
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
	local drain i id
	drain=$(cron_commands | sed -n 1p)
	for i in $(seq 60); do printf '{"task_id":"t%02d","tool_name":"noop","plugin_name":"noop","parameters":{"label":"%d"}}\n' "$i" "$i"; done > tasks
	filmeto-submit --queue --json tasks > ids
	[ "$(wc -l < ids)" -eq 60 ]
	sh -c "$drain" &
	a=$!
	sh -c "$drain" &
	b=$!
	wait $a
	wait $b
	[ -z "$(ls -A "$SP/queue")" ]
	[ -z "$(ls -A "$SP/failed")" ]
	[ "$(ls "$SP/done" | wc -l)" -eq 60 ]
	for id in $(cat ids); do
		[ "$(claims "$id")" -eq 1 ]
		[ "$(finals "$id")" -eq 1 ]
	done
	# Nothing left: a third night exits at once, with nothing to report.
	run sh -c "$drain"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "spool-cron's prune removes what finished before its age, and only that" {
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
	local prune
	prune=$(cron_commands | sed -n 2p)
	for id in old1 old2 new1; do filmeto-submit --queue -t noop -P noop -i "$id"; done
	filmeto-run --spool --drain
	filmeto-submit --queue -t noop -P noop -i later
	touch -d '3 weeks ago' "$SP"/done/*.old1 "$SP"/done/*.old2
	[ -d "$SP/out/old1" ]
	run sh -c "$prune"
	[ "$status" -eq 0 ]
	[ "$(ls "$SP/done" | sed 's/^[0-9a-f]*\.//')" = new1 ]
	[ "$(ls "$SP/log" | sed 's/^[0-9a-f]*\.//' | tr '\n' ' ')" = "new1 " ]
	[ ! -e "$SP/out/old1" ] && [ ! -e "$SP/out/old2" ] && [ -d "$SP/out/new1" ]
	# A queued task is not finished, however old.
	touch -d '3 weeks ago' "$SP"/queue/*.later
	sh -c "$prune"
	ls "$SP"/queue/*.later
}

# A two-scene storyboard the bundled plugins render in a few seconds.
tiny_board() {
	mkdir -p films
	cat > films/trailer.yaml <<-'EOF'
	title: Trailer
	size: 320x180
	fps: 10
	scenes:
	  - {id: one, title: One, prompt: one, narration: "one", duration: 1}
	  - {id: two, title: Two, prompt: two, narration: "two", duration: 1}
	EOF
}

@test "spool-ci.yml: queue, work and wait render the film and the job passes" {
	unset FILMETO_PLUGIN_PATH # the bundled plugins make real media
	tiny_board
	export STORYBOARD=films/trailer.yaml GITHUB_RUN_ID=4711 GITHUB_RUN_ATTEMPT=1
	run bash -e -c "$(ci_job queue)"
	[ "$status" -eq 0 ]
	[ "$(wc -l < ids)" -ge 5 ]
	[[ "$(tail -n 1 ids)" == trailer-4711-1-* ]]
	# A re-run of the same run gets ids of its own.
	GITHUB_RUN_ATTEMPT=2 bash -e -c "$(ci_job queue | sed 's/> ids/> ids2/')"
	[ "$(wc -l < ids2)" -eq "$(wc -l < ids)" ]
	filmeto-submit --cancel $(cat ids2) > /dev/null
	run bash -e -c "$(ci_job work)"
	[ "$status" -eq 0 ]
	for id in $(cat ids); do
		[ "$(finals "$id")" -eq 1 ]
		ls "$SP"/done/*."$id"
	done
	watch_follows || skip "filmeto-watch has no --follow"
	run bash -e -c "$(ci_job wait)"
	[ "$status" -eq 0 ]
	[ -s film.mp4 ]
	ffprobe -v error -show_entries format=duration film.mp4 | grep -q duration
}

@test "spool-ci.yml: the wait job fails when a task of the run was cancelled" {
	unset FILMETO_PLUGIN_PATH
	tiny_board
	export STORYBOARD=films/trailer.yaml GITHUB_RUN_ID=4712 GITHUB_RUN_ATTEMPT=1
	bash -e -c "$(ci_job queue)"
	run filmeto-submit --cancel "$(head -n 1 ids)"
	[ "$status" -eq 0 ]
	[[ "$output" == *"	cancelled" ]]
	bash -e -c "$(ci_job work)"
	watch_follows || skip "filmeto-watch has no --follow"
	run bash -e -c "$(ci_job wait)"
	[ "$status" -eq 1 ]
}
