#!/bin/sh
# The spool against the job queues a user would reach for instead, in one
# run: N no-op jobs (default 10,000) through each, with two workers each,
# timed from the first enqueue to the end of the last job (wall clock):
#   1. filmeto: one filmeto-submit --queue --json of N noop task lines
#      (written first, not timed), then two filmeto-run --spool --drain
#      --no-cache -j 2 at once. Durability is on, as always: every task
#      is on disk before its id is printed, every final line before its
#      task moves to done/.
#   2. task-spooler: a private server (TS_SOCKET, TMPDIR) with tsp -S 2,
#      N x `tsp -n true`, one process per job, as it is used; done when
#      tsp -l lists N finished jobs (TS_MAXFINISHED keeps them all).
#   3. nq: two queues (NQDIR), so two jobs at once, the jobs alternated
#      between them, N x `nq -q true`, then nq -w in each. Every queued
#      nq job is a process that waits on the lock of every job before it,
#      so nq is quadratic in the queue's length: about three minutes for
#      10,000 jobs on two cores. NQ_N runs it on fewer jobs; its rate is
#      then per job all the same, and the output says so.
# The other two start each job as it is enqueued, so their enqueueing and
# running overlap; filmeto's are timed one after the other.
set -eu
N=${N:-10000}
NQ_N=${NQ_N:-$N}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PATH="$ROOT/cmd:$PATH"
work=$(mktemp -d)
pids=
cleanup() {
	# Workers, then the tsp server and its jobs, then nq's unfinished
	# jobs: a job's pid is its file's extension, and its process group.
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	if [ -S "$work/tsp/socket" ]; then
		TMPDIR="$work/tsp" TS_SOCKET="$work/tsp/socket" tsp -K 2>/dev/null || true
	fi
	for f in "$work"/nq1/,* "$work"/nq2/,*; do
		[ -e "$f" ] || continue
		grep -q '^\[exited' "$f" || kill -- "-${f##*.}" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

for c in tsp nq; do
	command -v $c >/dev/null || { echo "spool.sh: $c is not installed (make bench installs it)" >&2; exit 1; }
done

now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }

# --- filmeto ---------------------------------------------------------------
export FILMETO_SPOOL="$work/spool" FILMETO_PLUGIN_PATH="$ROOT/plugins"
export XDG_CACHE_HOME="$work/cache"
awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++)
	printf "{\"type\":\"task\",\"task_id\":\"b%d\",\"tool_name\":\"noop\",\"plugin_name\":\"noop\"}\n", i }' \
	>"$work/tasks"
t0=$(now)
filmeto-submit --queue --json "$work/tasks" >"$work/ids"
t1=$(now)
filmeto-run --spool --drain --no-cache -j 2 &
a=$!
filmeto-run --spool --drain --no-cache -j 2 &
b=$!
pids="$a $b"
wait $a
wait $b
pids=
t2=$(now)
fe=$(ms "$t0" "$t1")
fd=$(ms "$t1" "$t2")
# Every task ran, once: N in done/, and each log has one final line.
[ "$(wc -l <"$work/ids")" -eq "$N" ]
[ "$(ls "$FILMETO_SPOOL/done" | wc -l)" -eq "$N" ]
[ -z "$(ls -A "$FILMETO_SPOOL/queue")" ] && [ -z "$(ls -A "$FILMETO_SPOOL/failed")" ]
[ "$(ls "$FILMETO_SPOOL/log" | wc -l)" -eq "$N" ]
ones=$(awk '/^\{"type":"(completed|failed|cancelled)"/ { n[FILENAME]++ }
	END { for (f in n) if (n[f] == 1) k++; print k + 0 }' "$FILMETO_SPOOL"/log/*)
[ "$ones" -eq "$N" ]
rm -rf "$FILMETO_SPOOL"

# --- task-spooler ------------------------------------------------------------
mkdir "$work/tsp"
export TMPDIR="$work/tsp" TS_SOCKET="$work/tsp/socket" TS_MAXFINISHED=$((N + 10))
tsp -S 2
t0=$(now)
i=0
while [ $i -lt "$N" ]; do
	tsp -n true >/dev/null
	i=$((i + 1))
done
t1=$(now)
tsp -w >/dev/null 2>&1 || true
while [ "$(tsp -l | grep -c ' finished ')" -lt "$N" ]; do sleep 0.01; done
t2=$(now)
te=$(ms "$t0" "$t1")
td=$(ms "$t1" "$t2")
[ "$(tsp -l | awk '$2 == "finished" && $4 == 0' | wc -l)" -eq "$N" ]
tsp -K
unset TMPDIR TS_SOCKET TS_MAXFINISHED

# --- nq ------------------------------------------------------------------------
mkdir "$work/nq1" "$work/nq2"
t0=$(now)
i=0
while [ $i -lt "$NQ_N" ]; do
	NQDIR="$work/nq1" nq -q true
	i=$((i + 1))
	[ $i -lt "$NQ_N" ] || break
	NQDIR="$work/nq2" nq -q true
	i=$((i + 1))
done
t1=$(now)
NQDIR="$work/nq1" nq -w
NQDIR="$work/nq2" nq -w
t2=$(now)
ne=$(ms "$t0" "$t1")
nd=$(ms "$t1" "$t2")
[ "$(cat "$work"/nq1/,* "$work"/nq2/,* | grep -c '^\[exited with status 0\.\]')" -eq "$NQ_N" ]

awk -v n="$N" -v nn="$NQ_N" -v fe="$fe" -v fd="$fd" -v te="$te" -v td="$td" \
	-v ne="$ne" -v nd="$nd" 'BEGIN {
	f = n / ((fe + fd) / 1000); t = n / ((te + td) / 1000); q = nn / ((ne + nd) / 1000)
	printf "spool: no-op jobs, 2 workers each; enqueue + drain, wall clock\n"
	printf "spool: %-32s %6s %9s %9s %9s %8s\n", "system", "jobs", "enqueue", "drain", "total", "jobs/s"
	printf "spool: %-32s %6d %7.2f s %7.2f s %7.2f s %8.0f\n", "filmeto (--queue, 2 x --spool)", n, fe / 1000, fd / 1000, (fe + fd) / 1000, f
	printf "spool: %-32s %6d %7.2f s %7.2f s %7.2f s %8.0f\n", "task-spooler (tsp -S 2)", n, te / 1000, td / 1000, (te + td) / 1000, t
	printf "spool: %-32s %6d %7.2f s %7.2f s %7.2f s %8.0f\n", "nq (2 queues)", nn, ne / 1000, nd / 1000, (ne + nd) / 1000, q
	printf "spool: (tsp and nq run each job as it is enqueued: their drain is the wait after the last enqueue)\n"
	if (nn != n)
		printf "spool: nq ran %d jobs, not %d (NQ_N): it is quadratic in the queue, so its rate per job at %d would be lower still\n", nn, n, n
	printf "spool: ratio filmeto/task-spooler = %.1f (target: >= 2)\n", f / t
	note = ""
	if (nn != n)
		note = sprintf(" (nq on %d jobs)", nn)
	printf "spool: ratio filmeto/nq = %.1f%s\n", f / q, note
}'
