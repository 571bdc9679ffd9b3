#!/usr/bin/env bats
# filmeto on Slurm, against a one-node cluster of this file's own (see
# slurm_helper.bash; SLURM_CONF set on entry uses that cluster instead).
# The spool shape: tasks queued into a spool, drained by spool workers
# that are Slurm jobs, as share/filmeto/examples/slurm/spool-farm does.

load test_helper
load slurm_helper

FARM="$ROOT/share/filmeto/examples/slurm/spool-farm"

setup_file() {
	slurm_start
}

teardown_file() {
	slurm_stop
}

setup() {
	common_setup
	# The bundled plugins (noop, titlecard), as a user has them.
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
	export FILMETO_SPOOL="$BATS_TEST_TMPDIR/spool"
	SP=$FILMETO_SPOOL
}

teardown() {
	# A job a failed test left is cancelled, so the next test starts on
	# an idle node; only this test's own (the cluster may be someone's).
	[ -z "${job:-}" ] || scancel "$job" 2>/dev/null || true
}

# left JOB: no element of job (array) JOB is pending or running.
left() {
	! squeue -h -o %F 2>/dev/null | grep -qx "$1"
}

# dag: a small DAG into the spool, its ids on stdout: two title cards
# after a first noop, and a noop after both.
dag() {
	local card='"tool_name":"text2image","plugin_name":"titlecard"'
	cat >dag.ndjson <<-EOF
		{"task_id":"start","tool_name":"noop","plugin_name":"noop","parameters":{"label":"start"}}
		{"task_id":"card1",$card,"parameters":{"prompt":"one","width":160,"height":90},"depends_on":["start"]}
		{"task_id":"card2",$card,"parameters":{"prompt":"two","width":160,"height":90},"depends_on":["start"]}
		{"task_id":"end","tool_name":"noop","plugin_name":"noop","parameters":{"label":"end"},"depends_on":["card1","card2"]}
	EOF
	filmeto-submit --queue --json dag.ndjson
}

# each_once ID...: every task is in done/ and its log has one claim and one final line.
each_once() {
	local id
	[ -z "$(ls -A "$SP/queue")" ] || { echo "queued: $(ls -A "$SP/queue")"; return 1; }
	for id; do
		in_dir done "$id" || { echo "$id not done"; return 1; }
		[ "$(finals "$id")" -eq 1 ] || { echo "$id: $(finals "$id") final lines"; return 1; }
		[ "$(claims "$id")" -eq 1 ] || { echo "$id: $(claims "$id") claims"; return 1; }
	done
}

@test "the spool drained by a two-element job array of --drain workers: every task done once" {
	run dag
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 4 ]
	# The workers get this environment (sbatch --export=ALL): PATH finds
	# the build, FILMETO_SPOOL the spool.
	job=$(sbatch --parsable --array=0-1 -o "$BATS_TEST_TMPDIR/worker-%a.out" \
		--wrap 'exec filmeto-run --spool --drain')
	wait_for -t 60 left "$job"
	each_once start card1 card2 end
	# The cards are real PNGs, in the spool's out/.
	[ "$(head -c 8 "$SP"/out/card1/*.png | od -An -c | tr -d ' ')" = '211PNG\r\n032\n' ]
	# Both workers ended with status 0 and said nothing.
	for a in 0 1; do
		[ ! -s "worker-$a.out" ] || { cat "worker-$a.out"; false; }
	done
	# Slurm saw both end well (the completion log of a cluster of our own).
	for a in 0 1; do
		[ -z "$SLURM_JOBCOMP" ] ||
			wait_for grep -q "JobState=COMPLETED .* ArrayJobId=$job ArrayTaskId=$a .*ExitCode=0:0" "$SLURM_JOBCOMP"
	done
}

@test "spool-farm submits one array sized to the queue, nothing while its workers run, nothing for an empty queue" {
	export FILMETO_WORKERS=2 FILMETO_JOB_NAME="farm$$" FILMETO_SLURM_OUT="$BATS_TEST_TMPDIR/farm-%a.out"
	# An empty spool: nothing to do, nothing said.
	run --separate-stderr "$FARM"
	[ "$status" -eq 0 ]
	[ -z "$output$stderr" ]
	dag >/dev/null
	# Four tasks queued, at most two workers: one array of two, held
	# until the second call has seen it in squeue.
	run --separate-stderr "$FARM" --hold
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^"spool-farm: 4 tasks queued; 2 workers submitted as job array "([0-9]+)$ ]]
	job=${BASH_REMATCH[1]}
	[ "$(squeue -h -r -o %K -j "$job" | sort | tr '\n' ' ')" = "0 1 " ]
	# Its workers are queued: a second run (cron's next tick) adds none.
	run --separate-stderr "$FARM"
	[ "$status" -eq 0 ]
	[ -z "$output$stderr" ]
	[ "$(squeue -h --name="$FILMETO_JOB_NAME" -o %F | sort -u)" = "$job" ]
	scontrol release "$job"
	wait_for -t 60 left "$job"
	each_once start card1 card2 end
	# Drained: the next tick submits nothing.
	run --separate-stderr "$FARM"
	[ "$status" -eq 0 ]
	[ -z "$output$stderr" ]
	[ -z "$(squeue -h --name="$FILMETO_JOB_NAME" -o %i)" ]
}
