#!/bin/bash
# filmeto-run's Slurm executor on a one-node cluster, measured in one run:
# the 10-scene animatic of animatic.sh (same storyboard, the bundled
# plugins, an empty output cache each time), wall clock from the
# storyboard to the finished film, three ways:
#   1. local: filmeto-submit --storyboard | filmeto-run -o film.mp4
#   2. slurm: the same with --executor slurm --slurm-poll 1 (a look at the
#      jobs each second: on a one-node cluster whose jobs take seconds the
#      default of 5 s is most of the time; it is measured too, once);
#   3. hand-written: what a user writes without the executor: the task
#      lines grouped by DAG level, one `sbatch --array` per level whose
#      elements each run `filmeto-run -d` on one task, chained with
#      --dependency=aftercorr (element i needs element i of the level
#      before, and only it) or afterok, --kill-on-invalid-dep=yes; a
#      task's task_output resources are rewritten to the files the
#      earlier levels wrote (filmeto-run resolves them only within one
#      run); the combine is the last level; squeue once a second until
#      the last level has left the queue.
# The sbatch, squeue, sacct, scontrol and scancel calls each way makes are
# counted by wrappers first in PATH. The cluster is one of its own (root,
# slurm-wlm and munge: tests/slurm_helper.bash), stopped at the end; with
# SLURM_CONF set, that cluster is used, and TMPDIR must then be a folder
# its nodes see. N=3 runs three rounds (medians), POLL5=0 leaves out the
# run at the default poll, KEEP=1 keeps the work folder (for a look at
# what went wrong).
# shellcheck source-path=SCRIPTDIR/..
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@" # make bench runs `sh bench/X.sh`
set -eu
N=${N:-1} # rounds; the median of each way is reported
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PATH="$ROOT/cmd:$PATH"
work=$(mktemp -d "${TMPDIR:-/tmp}/filmeto-bench-slurm.XXXXXX")

die() { echo "slurm.sh: $*" >&2; exit 1; }

# What tests/slurm_helper.bash takes from bats: its folder, wait_for, skip.
BATS_FILE_TMPDIR=$work
wait_for() {
	local tries=200
	if [ "$1" = -t ]; then
		tries=$(($2 * 20))
		shift 2
	fi
	for _ in $(seq "$tries"); do "$@" && return 0; sleep 0.05; done
	"$@"
}
skip() { echo "slurm: skipped: $*"; exit 0; }
# shellcheck source=tests/slurm_helper.bash
. "$ROOT/tests/slurm_helper.bash"

# stop_way: the way still running (interrupted), TERM to its process
# group as a user's Ctrl-C would reach it (filmeto-run cancels its jobs
# then), KILL after 15 s.
child=
way_gone() { [ -z "$(pgrep -g "$child")" ]; }
stop_way() {
	[ -n "$child" ] || return 0
	kill -TERM -- "-$child" 2>/dev/null || true
	wait "$child" 2>/dev/null || true
	wait_for -t 15 way_gone || kill -KILL -- "-$child" 2>/dev/null || true
	child=
}

cleanup() {
	# The way still running, jobs of an interrupted run, ours alone (the
	# cluster may be someone's), then our cluster, then the files.
	stop_way
	if [ -s "$work/jobs" ]; then
		xargs -r /usr/bin/scancel < "$work/jobs" 2>/dev/null || true
	fi
	slurm_stop # ours only: nothing when SLURM_CONF named a cluster
	if [ "${KEEP:-0}" = 1 ]; then
		echo "slurm.sh: kept $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Wrappers first in PATH: each call is one line in $SLURM_BENCH_CALLS (when
# set), and sbatch notes the ids of the jobs it made, for cleanup.
mkdir "$work/bin"
for c in sbatch squeue sacct scontrol scancel; do
	[ -x "/usr/bin/$c" ] || skip "/usr/bin/$c not found (make deps installs slurm-wlm)"
	cat > "$work/bin/$c" <<-EOF
		#!/bin/sh
		[ -z "\${SLURM_BENCH_CALLS:-}" ] || echo $c >> "\$SLURM_BENCH_CALLS"
	EOF
	if [ $c = sbatch ]; then
		cat >> "$work/bin/$c" <<-EOF
			out=\$(/usr/bin/sbatch "\$@") || exit
			printf '%s\n' "\$out"
			printf '%s\n' "\$out" | sed -n 's/^\([0-9][0-9]*\).*/\1/p' >> "$work/jobs"
		EOF
	else
		echo "exec /usr/bin/$c \"\$@\"" >> "$work/bin/$c"
	fi
	chmod +x "$work/bin/$c"
done
PATH="$work/bin:$PATH"
command -v jq > /dev/null || skip "jq not found (the hand-written script uses it; make bench installs it)"

slurm_start || die "the cluster did not start"

cd "$work"
export FILMETO_PLUGIN_PATH="$ROOT/plugins"
export XDG_CONFIG_HOME="$work/config" XDG_DATA_HOME="$work/data"
# SCENES, SECS, prompt, narration and board: the storyboard
# shellcheck source=bench/animatic.board
. "$ROOT/bench/animatic.board"
# shellcheck disable=SC2119 # its one argument is optional
board > board.yaml

now() { date +%s%N; }

median() { sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

rounds() { # NAME: each round's seconds, when there are several
	[ "$N" -gt 1 ] || return 0
	awk '{ printf "%s%.2f", (NR > 1 ? " " : "rounds "), $1 / 1e6 } END { printf "; " }' "$work/$1.times"
}

# --- the hand-written way --------------------------------------------------
# levels.jq: the task lines (jq -s) by DAG level, lowest first, each level
# {tasks, corr, after}: a task's level is one more than the highest of the
# tasks it needs (depends_on, task_output resources); corr: element i of
# the level needs element i of the level before and nothing else (the
# level before is ordered so), after: the levels it needs.
cat > levels.jq <<'EOF'
def needs: [(.depends_on // [])[],
	((.resources // [])[] | select(.type == "task_output") | .data | sub("#.*"; ""))] | unique;

map(select(.type == "task")) as $tasks
| ($tasks | map({key: .task_id, value: needs}) | from_entries) as $needs
| def level: if ($needs[.] | length) == 0 then 0 else ([$needs[.][] | level] | max) + 1 end;
  ($tasks | map({key: .task_id, value: (.task_id | level)}) | from_entries) as $level
| def one_to_one($k): .[$k] | map($needs[.task_id]) | all(length == 1 and $level[.[0]] == $k - 1)
	and (map(.[0]) | unique | length) == length;
  [$tasks | group_by($level[.task_id])[]]
  # From the top down: the tasks a one-to-one level needs come first in the
  # level before, in its order.
| reduce range(length - 1; 0; -1) as $k (.;
	if one_to_one($k) then
		([.[$k][] | $needs[.task_id][0]]) as $first
		| .[$k - 1] |= (INDEX(.task_id) as $by | [$first[] | $by[.]]
			+ map(select(.task_id | IN($first[]) | not)))
	else . end)
| . as $levels
| [range(length) as $k | {
	tasks: $levels[$k],
	corr: ($k > 0 and ($levels | one_to_one($k))),
	after: ([$levels[$k][] | $needs[.task_id][] | $level[.]] | unique)
  }]
EOF

# resolve.jq: a task line (of one element) whose task_output resources
# become the files named by the completed lines in $done; what it needs
# ran in jobs before it, so its depends_on go.
cat > resolve.jq <<'EOF'
(reduce $done[] as $d ({}; .[$d.task_id] = $d.output_files)) as $files
| .depends_on = []
| .resources |= [.[] | if .type != "task_output" then . else
	(.data | split("#")) as [$id, $n]
	| . as $r
	| ($files[$id] | if $n then [.[$n | tonumber]] else . end)[]
	| {type: "local_path", data: ., metadata: (($r.metadata // {}) + {task: $id})}
  end]
EOF

# element.sh DIR LEVEL FILM: one array element: its task of LEVEL, its
# events in DIR/events/TASK.ndjson; the combine writes FILM.
cat > element.sh <<'EOF'
#!/bin/sh
set -eu
cd "$1"
level=level-$2 film=$3
task=$level/task-$SLURM_ARRAY_TASK_ID.ndjson
id=$(jq -r .task_id "$task")
# The completed lines of the tasks it takes outputs from.
jq -r '.resources[] | select(.type == "task_output") | .data | sub("#.*"; "")' "$task" |
	while read -r need; do
		grep '"type":"completed"' "events/$need.ndjson"
	done > "$level/done-$id.ndjson"
jq -c --slurpfile done "$level/done-$id.ndjson" -f resolve.jq "$task" > "$level/run-$id.ndjson"
if [ "$(jq -r .tool_name "$task")" = combine ]; then
	exec filmeto-run -d out -o "$film" < "$level/run-$id.ndjson" > "events/$id.ndjson"
fi
exec filmeto-run -d out < "$level/run-$id.ndjson" > "events/$id.ndjson"
EOF

# handwritten.sh BOARD FILM: the storyboard to FILM on Slurm, a job array
# per DAG level; prints each level and what it waits for.
cat > handwritten.sh <<'EOF'
#!/bin/sh
set -eu
here=$(dirname "$(realpath "$0")")
film=$(realpath "$2")
mkdir -p events logs out
filmeto-submit --storyboard "$1" | jq -s -f "$here/levels.jq" > plan.json
cp "$here/resolve.jq" "$here/element.sh" .
levels=$(jq length plan.json)
jobs=
k=0
while [ $k -lt "$levels" ]; do
	mkdir -p "level-$k"
	jq -c ".[$k].tasks[]" plan.json | awk -v d="level-$k" '{ print > (d "/task-" NR - 1 ".ndjson") }'
	n=$(jq ".[$k].tasks | length" plan.json)
	if [ $k -eq 0 ]; then
		dep=
	elif [ "$(jq ".[$k].corr" plan.json)" = true ]; then
		dep=--dependency=aftercorr:$job
	else # afterok on the job of each level it needs
		dep=--dependency=afterok:$(jq -r ".[$k].after[] + 1" plan.json |
			while read -r l; do echo "$jobs" | cut -d' ' -f"$l"; done | paste -sd:)
	fi
	job=$(sbatch --parsable --job-name=filmeto-handwritten --array=0-$((n - 1)) \
		--output="logs/%A_%a.out" $dep --kill-on-invalid-dep=yes \
		element.sh "$PWD" $k "$film")
	job=${job%%;*}
	jobs="${jobs:+$jobs }$job"
	echo "level $k: $n task(s)${dep:+, ${dep#--dependency=}}"
	k=$((k + 1))
done
# Done when the last level has left the queue (it is cancelled if a level
# before it failed); then the film is there or it is not.
while [ -n "$(squeue -h -j "$job" -o %i)" ]; do sleep 1; done
[ -s "$film" ]
EOF

# --- the rounds ------------------------------------------------------------
# way NAME CMD...: runs CMD in a fresh folder NAME-ROUND with an empty
# output cache, its calls counted in NAME.calls (the last round's); its
# wall time in microseconds appended to NAME.times.
way() {
	local name=$1 dir t0 t1
	shift
	dir="$work/$name-$k"
	mkdir "$dir"
	cp board.yaml "$dir"
	: > "$work/$name.calls"
	t0=$(now)
	# In a process group of its own, waited for in the background: a TERM
	# or INT to this script stops it at once (cleanup, stop_way).
	set -m
	(
		cd "$dir"
		export XDG_CACHE_HOME="$dir/cache" SLURM_BENCH_CALLS="$work/$name.calls"
		"$@"
	) > "$dir/stdout" 2> "$dir/stderr" &
	child=$!
	set +m
	wait "$child" || {
		child=
		tail -n 20 "$dir/stderr" >&2
		grep -hE '"(failed|cancelled)"' "$dir/stdout" "$dir"/events/*.ndjson 2>/dev/null |
			tail -n 5 >&2 || true
		tail -n 5 "$dir"/logs/*.out >&2 2>/dev/null || true
		die "$name: the run failed"
	}
	t1=$(now)
	child=
	echo $(((t1 - t0) / 1000)) >> "$work/$name.times"
	[ -s "$dir/film.mp4" ] || die "$name: no film.mp4"
	frames "$dir/film.mp4" > "$work/$name.frames"
}

frames() { # FILM: its video frames, as ffprobe counts them
	ffprobe -v error -select_streams v:0 -count_packets -show_entries stream=nb_read_packets \
		-of csv=p=0 "$1"
}

render() { # the pipeline, with filmeto-run's extra options
	filmeto-submit --storyboard board.yaml | filmeto-run "$@" -o film.mp4
}

executor=0
filmeto-run --help | grep -q -- --executor && executor=1
POLL5=${POLL5:-1} # 0: no run at the default poll

k=0
while [ "$k" -lt "$N" ]; do
	way local render
	[ $executor = 0 ] || way slurm render --executor slurm --slurm-poll 1
	way hand sh "$work/handwritten.sh" board.yaml film.mp4
	k=$((k + 1))
done
[ $executor = 0 ] || [ "$POLL5" = 0 ] || { k=0 && way slurm5 render --executor slurm; }

# What Slurm alone costs here: as many empty array elements as there are
# tasks but the combine (one job each, as the hand-written way makes; the
# executor batches tasks into fewer elements where the cluster has fewer
# slots), from sbatch to the queue empty.
nslurm=$(($(jq '[.[].tasks[]] | length' hand-0/plan.json) - 1))
t0=$(now)
job=$(sbatch --parsable --job-name=filmeto-bench-floor --array=0-$((nslurm - 1)) \
	--output=/dev/null --wrap true)
while [ -n "$(squeue -h -j "${job%%;*}" -o %i)" ]; do sleep 0.1; done
t1=$(now)
floor=$(((t1 - t0) / 1000))

# --- the report ------------------------------------------------------------
calls() { # NAME: its calls of each command
	awk -v f="$work/$1.calls" 'BEGIN {
		n["sbatch"] = n["squeue"] = n["sacct"] = n["scontrol"] = n["scancel"] = 0
		while ((getline c < f) > 0) n[c]++
		printf "sbatch %d, squeue %d, sacct %d, scontrol %d, scancel %d",
			n["sbatch"], n["squeue"], n["sacct"], n["scontrol"], n["scancel"] }'
}

levels=$(jq length "$work/hand-0/plan.json")
local_t=$(median < local.times)
hand_t=$(median < hand.times)
awk -v n="$N" -v t="$local_t" -v r="$(rounds local)" -v c="$(sinfo -h -o '%D node(s), %c CPUs each')" 'BEGIN {
	printf "slurm: local: filmeto-run -o film.mp4                  median %6.2f s  (%s%d round(s), 10 x 4 s 1280x720; cluster: %s)\n", t / 1e6, r, n, c
}'
if [ $executor = 1 ]; then
	slurm_t=$(median < slurm.times)
	awk -v t="$slurm_t" -v c="$(rounds slurm)$(calls slurm)" 'BEGIN {
		printf "slurm: slurm: --executor slurm --slurm-poll 1          median %6.2f s  (%s)\n", t / 1e6, c
	}'
	if [ -s slurm5.times ]; then
		awk -v t="$(cat slurm5.times)" -v c="$(calls slurm5)" 'BEGIN {
			printf "slurm: slurm: --executor slurm (default poll, 5 s)     once   %6.2f s  (%s)\n", t / 1e6, c
		}'
	fi
fi
awk -v t="$hand_t" -v c="$(rounds hand)$(calls hand)" 'BEGIN {
	printf "slurm: hand-written: sbatch --array a level, squeue 1 s median %6.2f s  (%s)\n", t / 1e6, c
}'
awk -v t="$floor" -v n="$nslurm" 'BEGIN {
	printf "slurm: Slurm alone: %d empty array elements (sbatch --wrap true)   %6.2f s  (what Slurm itself takes for a job per task)\n", n, t / 1e6
}'
echo "slurm: DAG levels: $levels; hand-written: $(sed 's/:[0-9:]*$//' hand-0/stdout | paste -sd';' | sed 's/;/; /g')"
if [ $executor = 1 ]; then
	awk -v s="$slurm_t" -v l="$local_t" -v h="$hand_t" -v b="$(grep -c '^sbatch$' slurm.calls)" -v n="$levels" 'BEGIN {
		printf "slurm: ratio slurm/local = %.2f (target: <= 1.3)\n", s / l
		printf "slurm: ratio slurm/hand-written = %.2f (target: <= 1.0)\n", s / h
		printf "slurm: sbatch calls of the executor: %d for %d DAG levels (target: at most one per level)\n", b, n
	}'
else
	echo "slurm: filmeto-run has no --executor yet: the Slurm executor was not measured"
fi
f=$(cat ./*.frames | sort -u)
[ "$(echo "$f" | wc -l)" = 1 ] || die "the films differ in frame count: $(paste -d' ' ./*.frames)"
echo "slurm: the films have the same frame count each way: $f"
