#!/bin/sh
# filmeto-run as an executor, measured in one run against what a user
# would reach for instead:
#   1. throughput: N no-op tasks through the pooled no-op C plugin, against
#      xargs -P2 and GNU parallel -j2 each running a no-op process per task;
#   2. memory: 100,000 streamed tasks, peak RSS of filmeto-run against
#      xargs -P2 doing the same number of no-op processes;
#   3. latency: task line in to started line out, warm pool (latency.py).
# The output directory is fresh each time; the cache is off (--no-cache),
# since a rerun of identical no-op tasks would be answered from it.
set -eu
N=${N:-10000}
NPAR=${NPAR:-2000} # GNU parallel is slow: fewer tasks, same rate measure
BIG=${BIG:-100000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PATH="$ROOT/cmd:$PATH"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
export XDG_CACHE_HOME="$work/cache"

tasks() { # COUNT
	awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++)
		printf "{\"type\":\"task\",\"task_id\":\"b%d\",\"tool_name\":\"noop\"}\n", i }'
}

now() { date +%s%N; }

tasks "$N" > "$work/tasks"
seq "$N" > "$work/ids"
seq "$NPAR" > "$work/ids_par"

t0=$(now); filmeto-run -j 2 --no-cache -d "$work/out2" "$work/tasks" > "$work/ev2"; t1=$(now)
f2=$(( (t1 - t0) / 1000 ))
t0=$(now); filmeto-run -j 4 --no-cache -d "$work/out4" "$work/tasks" > "$work/ev4"; t1=$(now)
f4=$(( (t1 - t0) / 1000 ))
t0=$(now); xargs -P2 -n1 true < "$work/ids"; t1=$(now)
x=$(( (t1 - t0) / 1000 ))
if command -v parallel >/dev/null && parallel --version 2>/dev/null | grep -q GNU; then
	t0=$(now); parallel --will-cite -j2 true < "$work/ids_par"; t1=$(now)
	p=$(( (t1 - t0) / 1000 ))
else
	p=0
fi
[ "$(grep -c '"completed"' "$work/ev2")" -eq "$N" ]
[ "$(grep -c '"completed"' "$work/ev4")" -eq "$N" ]

tasks "$BIG" | /usr/bin/time -f %M -o "$work/rss_f" filmeto-run -j 2 --no-cache \
	-d "$work/big" > "$work/evbig"
seq "$BIG" | /usr/bin/time -f %M -o "$work/rss_x" xargs -P2 -n1 true
[ "$(grep -c '"completed"' "$work/evbig")" -eq "$BIG" ]

awk -v n="$N" -v np="$NPAR" -v f2="$f2" -v f4="$f4" -v x="$x" -v p="$p" -v big="$BIG" \
	-v rf="$(cat "$work/rss_f")" -v rx="$(cat "$work/rss_x")" 'BEGIN {
	r2 = n / (f2 / 1e6); r4 = n / (f4 / 1e6); rx_ = n / (x / 1e6)
	printf "throughput: filmeto-run -j 2   %8.0f tasks/s  (%d no-op tasks)\n", r2, n
	printf "throughput: filmeto-run -j 4   %8.0f tasks/s\n", r4
	printf "throughput: xargs -P2 true     %8.0f tasks/s\n", rx_
	if (p > 0) {
		rp = np / (p / 1e6)
		printf "throughput: parallel -j2 true  %8.0f tasks/s  (%d tasks)\n", rp, np
	}
	printf "throughput: ratio filmeto(-j 2)/xargs = %.1f (target: >= 12, and >= 20000 tasks/s)\n", r2 / rx_
	if (p > 0)
		printf "throughput: ratio filmeto(-j 2)/parallel = %.1f\n", r2 / rp
	printf "memory: filmeto-run peak RSS %.1f MiB for %d streamed tasks (target: <= 16 MiB)\n", rf / 1024, big
	printf "memory: xargs -P2 peak RSS   %.1f MiB for the same count\n", rx / 1024
	printf "memory: ratio filmeto/xargs = %.1f\n", rf / rx
}'
python3 "$ROOT/bench/latency.py"
