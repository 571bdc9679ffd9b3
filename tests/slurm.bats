#!/usr/bin/env bats
# filmeto on Slurm, against a one-node cluster of this file's own (see
# slurm_helper.bash; SLURM_CONF set on entry uses that cluster instead).
# Two shapes: filmeto-run --executor slurm, whose tasks are Slurm jobs;
# and the spool, drained by spool workers that are Slurm jobs, as
# share/filmeto/examples/slurm/spool-farm does.

load test_helper
load slurm_helper

FARM="$ROOT/share/filmeto/examples/slurm/spool-farm"

setup_file() {
	# Memory watched by polling, as a cgroup-less farm does: a job over
	# its --mem is killed (the OOM test). A job that names no --mem gets
	# half the node's 1 GiB a CPU, which the demo's plugins fit in.
	export SLURM_EXTRA_CONF="JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=1
JobAcctGatherParams=OverMemoryKill
DefMemPerCPU=512"
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

# --- filmeto-run --executor slurm ----------------------------------------------

# counted: Slurm's commands first on PATH through wrappers that note each
# call in $BATS_TEST_TMPDIR/calls (the real ones still answer).
counted() {
	local c
	mkdir -p "$BATS_TEST_TMPDIR/bin"
	for c in sbatch squeue sacct scontrol scancel sinfo; do
		printf '#!/bin/sh\necho %s >> "%s/calls"\nexec /usr/bin/%s "$@"\n' \
			"$c" "$BATS_TEST_TMPDIR" "$c" > "$BATS_TEST_TMPDIR/bin/$c"
		chmod +x "$BATS_TEST_TMPDIR/bin/$c"
	done
	: > "$BATS_TEST_TMPDIR/calls"
	PATH="$BATS_TEST_TMPDIR/bin:$PATH"
}

calls() { grep -cx "$1" "$BATS_TEST_TMPDIR/calls" || true; }

# farm [filmeto-run options]: task lines on stdin through filmeto-run
# --executor slurm into events (squeue every 0.5 s), stderr into errlog.
farm() {
	status=0
	filmeto-run --executor slurm --slurm-poll 0.5 -d out "$@" > events 2> errlog || status=$?
}

# farm_bg [filmeto-run options]: farm in the background, its pid in $head.
farm_bg() {
	filmeto-run --executor slurm --slurm-poll 0.5 -d out "$@" > events 2> errlog &
	head=$!
}

# ours: the run's jobs still in squeue (every job filmeto-run submits is
# named filmeto-RUN).
ours() { squeue -h -r -o '%j %i' | grep '^filmeto-' || true; }

# plugin_dir NAME RESOURCES: a plugin NAME of pyfilmeto's code whose tool
# render asks for RESOURCES ({gpu: 1}, {mem_gb: 0.125}), on the plugin path.
plugin_dir() {
	mkdir -p "$BATS_TEST_TMPDIR/plugins/$1"
	cat > "$BATS_TEST_TMPDIR/plugins/$1/plugin.yaml" <<-EOF
		name: $1
		version: 1.0.0
		description: "pyfilmeto asking for $2"
		command: [python3, $ROOT/tests/plugins/pyfilmeto/main.py]
		tools:
		  - name: render
		    resources: $2
		    parameters:
		      - {name: text, type: string, required: true}
		      - {name: mode, type: string, default: echo}
		      - {name: delay, type: number, default: 0}
		      - {name: repeat, type: integer, default: 1}
	EOF
	export FILMETO_PLUGIN_PATH="$BATS_TEST_TMPDIR/plugins:$ROOT/tests/plugins"
}

# started_in_slurm ID: task ID's node has begun (a relayed progress line).
started_in_slurm() {
	grep -q "\"type\":\"progress\",\"task_id\":\"$1\".*slurm_job_id" events 2>/dev/null
}

# job_of ID: the Slurm job (array element) task ID runs as.
job_of() {
	jget events "[l for l in lines if l.get('task_id') == '$1' and 'metadata' in l][0]['metadata']['slurm_job_id']"
}

# levels FILE: the depth of the DAG of the task lines in FILE.
levels() {
	python3 - "$1" <<'PY'
import json, sys
tasks = {}
for l in open(sys.argv[1]):
    t = json.loads(l)
    if t.get("type") != "task":
        continue
    deps = set(t.get("depends_on") or [])
    for r in t.get("resources") or []:
        if r.get("type") == "task_output":
            deps.add(r["data"].split("#")[0])
    tasks[t["task_id"]] = deps
depth = {}
def d(i):
    if i not in depth:
        depth[i] = 1 + max([d(x) for x in tasks[i] if x in tasks] or [0])
    return depth[i]
print(max(d(i) for i in tasks))
PY
}

@test "executor slurm: the offline demo renders through Slurm into the same film as locally, its first level in one sbatch" {
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
	filmeto-submit --storyboard "$ROOT/share/filmeto/examples/hello.yaml" > tasks.ndjson
	XDG_CACHE_HOME="$BATS_TEST_TMPDIR/cache-local" \
		filmeto-run -d local -o local.mp4 tasks.ndjson > local.ndjson
	counted
	# The default poll: what gathers within it goes out together.
	farm -o farm.mp4 --slurm-poll 5 tasks.ndjson
	[ "$status" -eq 0 ] || { cat errlog events; false; }
	# The same film: frames, video packets (stream-copied scenes), chapters, subtitles.
	frames() { ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$1"; }
	[ "$(frames farm.mp4)" -gt 100 ]
	[ "$(frames farm.mp4)" = "$(frames local.mp4)" ]
	packets() { ffmpeg -v error -i "$1" -map 0:v -c copy -f md5 -; }
	[ "$(packets farm.mp4)" = "$(packets local.mp4)" ]
	chapters() { ffprobe -v error -show_chapters -of csv "$1"; }
	[ -n "$(chapters farm.mp4)" ]
	[ "$(chapters farm.mp4)" = "$(chapters local.mp4)" ]
	cmp farm.srt local.srt
	# Every task but the film's combine ran as a Slurm job, and said so.
	holds events \
		"len(by('completed')) == len([1 for l in open('tasks.ndjson') if '\"type\":\"task\"' in l])" \
		"all('slurm_job_id' in l['metadata'] for l in by('completed') if l['metadata']['plugin_name'] != 'combine')" \
		"all('slurm_job_id' not in l['metadata'] for l in by('completed') if l['metadata']['plugin_name'] == 'combine')" \
		"all(l['metadata']['slurm_job_id'] for l in by('started') + by('progress') + by('log') if l['task_id'] != 'hello-film')" \
		"len(by('started')) == len(by('completed'))"
	# Ready tasks went out together (tasks of different plugins share
	# arrays, their --time rounded up to the hour): the whole first level
	# in one sbatch, and far fewer calls than tasks. One per level is
	# bench/slurm.sh's figure: a level that ends spread over more than the
	# 2 s hold (a loaded machine) goes out in more than one.
	[ "$(calls sbatch)" -ge "$(($(levels tasks.ndjson) - 1))" ]
	[ "$(calls sbatch)" -le "$(($(grep -c '"type":"task"' tasks.ndjson) / 2))" ]
	holds events "len({l['metadata']['slurm_job_id'].split('_')[0] for l in by('completed') if l['task_id'] in [json.loads(t)['task_id'] for t in open('tasks.ndjson') if '\"type\":\"task\"' in t and 'task_output' not in t]}) == 1"
	[ "$(calls sacct)" -eq 0 ]
	[ "$(calls squeue)" -lt 200 ]
	# Nothing of the run is left: no job, no folder.
	[ -z "$(ours)" ]
	[ ! -e out/.filmeto-slurm ]
}

@test "executor slurm: --placeholder: a scene whose job failed becomes a title card in the film made on the head" {
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
	head -c 5000 /dev/urandom > bad.png
	cat > film.yaml <<-YAML
		title: Small film
		size: 320x180
		fps: 25
		scenes:
		  - id: one
		    prompt: "One"
		    duration: 2
		  - id: two
		    image: bad.png
		    duration: 2
	YAML
	filmeto-submit --storyboard film.yaml > tasks.ndjson
	farm --placeholder -o film.mp4 tasks.ndjson
	[ "$status" -eq 1 ] # the scene's own task failed, on its node
	holds events "one('failed', 'film-two-video')['metadata']['slurm_job_id']" \
		"one('completed', 'film-film')"
	[ "$(jfile film.json '[s["placeholder"] for s in d["scenes"]]')" = "[false, true]" ]
	[ "$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 film.mp4)" -eq 100 ]
}

@test "executor slurm: a GPU task gets CUDA_VISIBLE_DEVICES from Slurm (--gres); many tasks asking the same go out as one array" {
	plugin_dir onegpu '{gpu: 1}'
	counted
	{
		task gpu1 onegpu render '{"text":"CUDA_VISIBLE_DEVICES","mode":"env"}'
		for i in $(seq 1 12); do echo_task "e$i"; done
	} > tasks.ndjson
	farm tasks.ndjson
	[ "$status" -eq 0 ] || { cat errlog events; false; }
	# The fake GPUs are devices 0 and 1; Slurm gave the job one of them.
	[[ "$(cat out/gpu1/out.txt)" =~ ^[01]$ ]]
	for i in $(seq 1 12); do [ "$(cat "out/e$i/out.txt")" = "e$i" ]; done
	# Two requests (with and without a GPU), two arrays: thirteen tasks, two sbatch.
	[ "$(calls sbatch)" -eq 2 ]
	holds events "len({l['metadata']['slurm_job_id'].split('_')[0] for l in by('completed')}) == 2"
	# Twelve echoes on a node of $(nproc) CPUs: batched, no more elements than
	# slots (sinfo asked once), each running its share one after another.
	[ "$(calls sinfo)" -le 1 ]
	holds events "len({l['metadata']['slurm_job_id'] for l in by('completed') if l['task_id'][0] == 'e'}) <= $(nproc)" \
		"all(l['metadata']['slurm_job_id'] == one('completed', l['task_id'])['metadata']['slurm_job_id'] for l in by('started'))"
	# --limit holds as without Slurm: one GPU task in Slurm at a time.
	for i in 1 2; do
		task "g$i" onegpu render "{\"text\":\"CUDA_VISIBLE_DEVICES\",\"mode\":\"env\",\"delay\":$i}"
	done > limited.ndjson
	farm --limit gpu=1 limited.ndjson
	[ "$status" -eq 0 ]
	holds events "lines.index(one('completed', 'g1')) < lines.index(one('started', 'g2'))"
}

@test "executor slurm: a job over its --mem fails naming the memory asked for" {
	plugin_dir hog '{mem_gb: 0.125}'
	task big hog render '{"text":"x","mode":"hog","repeat":400,"delay":5}' > tasks.ndjson
	farm tasks.ndjson
	[ "$status" -eq 1 ]
	holds events "one('failed', 'big')['error']['code'] == 'PLUGIN_EXECUTION_ERROR'" \
		"'ran out of memory: it asked for 0.125 GB' in one('failed', 'big')['error']['message']" \
		"one('failed', 'big')['error']['details']['slurm']['job_id'] == one('failed', 'big')['metadata']['slurm_job_id']"
	[ -z "$(ours)" ]
}

@test "executor slurm: a job scancel'd from outside ends its task cancelled; one requeued runs again and its task completes once" {
	export FILMETO_PLUGIN_PATH="$ROOT/tests/plugins"
	{
		task gone pyfilmeto text2text '{"text":"x","mode":"slow","delay":60}'
		task again pyfilmeto text2text '{"text":"again","mode":"slow","delay":3}'
	} > tasks.ndjson
	farm_bg tasks.ndjson
	wait_for -t 60 started_in_slurm gone
	wait_for -t 60 started_in_slurm again
	scancel "$(job_of gone)"
	scontrol requeue "$(job_of again)"
	status=0
	wait "$head" || status=$?
	[ "$status" -eq 1 ]
	holds events "one('cancelled', 'gone')['error']['code'] == 'TASK_CANCELLED'" \
		"'was cancelled' in one('cancelled', 'gone')['error']['message']" \
		"one('cancelled', 'gone')['error']['details']['slurm']['state'] == 'CANCELLED'" \
		"len(ev('completed', 'again')) == 1" "not ev('failed', 'again')" \
		"len(ev('started', 'again')) == 1"
	[ "$(cat out/again/out.txt)" = again ]
	[ -z "$(ours)" ]
}

@test "executor slurm: SIGINT to the head scancels every job of the run: cancelled lines, status 130, squeue empty" {
	export FILMETO_PLUGIN_PATH="$ROOT/tests/plugins"
	for i in 1 2 3; do task "s$i" pyfilmeto text2text '{"text":"x","mode":"slow","delay":120}'; done > tasks.ndjson
	farm_bg tasks.ndjson
	wait_for -t 60 started_in_slurm s1
	[ -n "$(ours)" ]
	kill -INT "$head"
	status=0
	wait "$head" || status=$?
	[ "$status" -eq 130 ]
	holds events "sorted(l['task_id'] for l in by('cancelled')) == ['s1', 's2', 's3']" \
		"not by('completed') and not by('failed')"
	# Gone from the queue by the time the head exits, and its folder too.
	[ -z "$(ours)" ]
	[ ! -e out/.filmeto-slurm ]
}

@test "executor slurm: a head killed outright leaves its job to finish; the rerun takes the result from the cache" {
	export FILMETO_PLUGIN_PATH="$ROOT/tests/plugins"
	task k pyfilmeto text2text '{"text":"kept","mode":"slow","delay":2}' > tasks.ndjson
	farm_bg tasks.ndjson
	wait_for -t 60 started_in_slurm k
	kill -KILL "$head"
	wait "$head" || true
	wait_for -t 60 sh -c '[ -z "$(squeue -h -r -o %j | grep ^filmeto-)" ]'
	counted
	farm tasks.ndjson
	[ "$status" -eq 0 ]
	holds events "one('completed', 'k')['metadata'].get('cached') is True"
	[ "$(calls sbatch)" -eq 0 ]
	[ "$(cat out/k/out.txt)" = kept ]
}

@test "executor slurm: an unknown partition, a rejected request, no sbatch, the controller down: one failed line per task naming Slurm's words, no hang" {
	export FILMETO_PLUGIN_PATH="$ROOT/tests/plugins"
	plugin_dir fourgpu '{gpu: 4}'
	# config.yaml's partition for every job; a plugin's own wins.
	mkdir -p "$XDG_CONFIG_HOME/filmeto"
	cat > "$XDG_CONFIG_HOME/filmeto/config.yaml" <<-EOF
		slurm:
		  partition: nowhere
		  plugins:
		    pyfilmeto: {partition: debug}
	EOF
	{ echo_task fine; task wrong noop noop '{}'; task lost noop noop '{}'; } > tasks.ndjson
	FILMETO_PLUGIN_PATH="$FILMETO_PLUGIN_PATH:$ROOT/plugins" farm tasks.ndjson
	[ "$status" -eq 1 ]
	holds events "one('completed', 'fine')" \
		"all('Invalid partition name specified' in one('failed', i)['error']['message'] for i in ('wrong', 'lost'))" \
		"all(one('failed', i)['error']['code'] == 'SERVICE_ERROR' for i in ('wrong', 'lost'))"
	rm "$XDG_CONFIG_HOME/filmeto/config.yaml"
	# More GPUs than the node has: sbatch refuses the request.
	task greedy fourgpu render '{"text":"x"}' > tasks.ndjson
	farm tasks.ndjson
	[ "$status" -eq 1 ]
	holds events "'Requested node configuration is not available' in one('failed', 'greedy')['error']['message']"
	# No Slurm on PATH at all.
	task orphan noop noop '{}' > tasks.ndjson
	FILMETO_PLUGIN_PATH="$ROOT/plugins" PATH="$ROOT/cmd" farm tasks.ndjson
	[ "$status" -eq 1 ]
	holds events "'sbatch' in one('failed', 'orphan')['error']['message']"
	# The controller down (our cluster's, moved to a port nobody listens
	# on): sbatch's own words, in seconds.
	if [ -n "$SLURM_JOBCOMP" ]; then
		sed "s/^SlurmctldPort=.*/SlurmctldPort=$(slurm_free_ports 1)/" "$SLURM_CONF" > down.conf
		task down noop noop '{}' > tasks.ndjson
		FILMETO_PLUGIN_PATH="$ROOT/plugins" SLURM_CONF="$BATS_TEST_TMPDIR/down.conf" farm tasks.ndjson
		[ "$status" -eq 1 ]
		holds events "'Unable to contact slurm controller' in one('failed', 'down')['error']['message']"
	fi
	# The run's folder planted as a link: refused before anything is written through it.
	mkdir -p planted/out elsewhere
	ln -s "$BATS_TEST_TMPDIR/elsewhere" planted/out/.filmeto-slurm
	run filmeto-run --executor slurm -d planted/out tasks.ndjson
	[ "$status" -eq 1 ]
	[[ "$output" == *"is not a folder of ours"* ]]
	[ -z "$(ls -A elsewhere)" ]
	# A bad option or config value is refused before anything runs.
	run filmeto-run --executor slurm --sbatch-arg nodash
	[ "$status" -eq 2 ]
	[[ "$output" == *"'nodash' is no sbatch option"* ]]
	printf 'slurm:\n  partiton: gpu\n' > "$XDG_CONFIG_HOME/filmeto/config.yaml"
	echo_task typo > tasks.ndjson
	farm tasks.ndjson
	[ "$status" -ne 0 ]
	grep -q "did you mean 'slurm.partition'" errlog events
	[ -z "$(ours)" ]
}
