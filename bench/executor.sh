#!/bin/sh
# filmeto-run as an executor, measured in one run against what a user
# would reach for instead:
#   1. dispatch (issue 21): N no-op tasks at -j 2 through a plain C plugin
#      as a user writes it without filmeto's SDK (json-c, one request per
#      line, built here), against xargs -P2 running a no-op process per
#      task, in alternating rounds; medians, and CPU (user+sys, children
#      included) where wall time is noisy on a shared machine. Once more
#      with the output cache on, a user's default.
#   2. the same for the bundled no-op plugin (the SDK) at -j 2 and -j 4,
#      and GNU parallel -j2 once;
#   3. memory: peak RSS at 1,000 and at BIG tasks through the plain
#      plugin (the growth is what the tasks cost), the shared libraries
#      filmeto-run has mapped, and xargs -P2's peak RSS;
#   4. latency: task line in to started line out, warm pool (latency.py).
# Every run writes to a fresh output directory and nothing is deleted
# until the end: on a file system without a journal (this machine's
# ext4), allocating an inode walks past every one freed in the last 1 to
# 5 minutes, which would charge filmeto-run's per-task mkdir for the
# benchmark's own clean-up. For the same reason a second run within
# minutes of the first, or beside others deleting much, reads slower
# and costs more CPU a task: compare figures taken alike.
set -eu
N=${N:-10000}
NX=${NX:-1000}	 # xargs runs ~250-900 processes/s here: fewer tasks, same rate measure
NPAR=${NPAR:-500} # GNU parallel is slower still
BIG=${BIG:-100000}
ROUNDS=${ROUNDS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PATH="$ROOT/cmd:$PATH"
work=$(mktemp -d)
# Removing ~40,000 task folders takes this disk (no journal, discard) a
# minute or two of waiting on I/O, not filmeto's time: it goes on after
# the report, in the background.
cleanup() { (rm -rf "$work" &); }
trap cleanup EXIT INT TERM
export XDG_CACHE_HOME="$work/cache"

# The plain plugin: what a user writes from DESIGN §3 and filmeto-plugin.yaml(5).
mkdir -p "$work/plugins/plain"
cat > "$work/plugins/plain/plugin.yaml" <<'EOF'
name: plain
version: 1.0.0
description: answers every task at once, written with json-c alone
command: ["./plain"]
tools:
  - name: plainnoop
    parameters:
      - {name: n, type: integer, description: which task}
EOF
cat > "$work/plugins/plain/plain.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>

static void answer(json_object *id, json_object *result)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(o, "id", json_object_get(id));
	json_object_object_add(o, "result", result);
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	fflush(stdout);
	json_object_put(o);
}

int main(void)
{
	char *line = NULL;
	size_t cap = 0;

	puts("{\"jsonrpc\":\"2.0\",\"method\":\"ready\","
	     "\"params\":{\"name\":\"plain\",\"version\":\"1.0.0\"}}");
	fflush(stdout);
	while (getline(&line, &cap, stdin) > 0) {
		json_object *req = json_tokener_parse(line), *id, *method, *r;
		const char *m;

		if (!req || !json_object_object_get_ex(req, "id", &id) ||
		    !json_object_object_get_ex(req, "method", &method)) {
			json_object_put(req); /* a notification: cancel, shutdown */
			continue;
		}
		m = json_object_get_string(method);
		r = json_object_new_object();
		if (!strcmp(m, "execute_task")) {
			json_object_object_add(r, "status", json_object_new_string("success"));
			json_object_object_add(r, "output_files", json_object_new_array());
			json_object_object_add(r, "execution_time", json_object_new_double(0));
		} else if (!strcmp(m, "ping")) {
			json_object_object_add(r, "status", json_object_new_string("pong"));
		}
		answer(id, r);
		json_object_put(req);
	}
	free(line);
	return 0;
}
EOF
${CC:-cc} -O2 -o "$work/plugins/plain/plain" "$work/plugins/plain/plain.c" -ljson-c
export FILMETO_PLUGIN_PATH="$work/plugins"

plain() { # COUNT
	awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++)
		printf "{\"type\":\"task\",\"task_id\":\"t%d\",\"tool_name\":\"plainnoop\",\"parameters\":{\"n\":%d}}\n", i, i }'
}
sdk() { # COUNT
	awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++)
		printf "{\"type\":\"task\",\"task_id\":\"b%d\",\"tool_name\":\"noop\"}\n", i }'
}
now() { date +%s%N; }
run=0
# timed OUTFILE CMD...: appends "wall_us cpu_s" to OUTFILE (cpu: user+sys, children too)
timed() {
	out=$1
	shift
	run=$((run + 1))
	t0=$(now)
	/usr/bin/time -f "%U %S" -o "$work/time.$run" "$@"
	t1=$(now)
	echo "$(( (t1 - t0) / 1000 )) $(awk '{ print $1 + $2 }' "$work/time.$run")" >> "$out"
}
complete() { # EVENTS COUNT
	[ "$(grep -c '"completed"' "$1")" -eq "$2" ] || { echo "bench: $1: not every task completed" >&2; exit 1; }
}

plain "$N" > "$work/tasks"
seq "$NX" > "$work/ids"
: > "$work/f"; : > "$work/x"
r=0
while [ $r -lt "$ROUNDS" ]; do
	r=$((r + 1))
	timed "$work/f" filmeto-run -j 2 --no-cache -d "$work/out.f$r" "$work/tasks" > "$work/ev.f$r"
	complete "$work/ev.f$r" "$N"
	timed "$work/x" xargs -P2 -n1 true < "$work/ids"
done
: > "$work/c"
timed "$work/c" filmeto-run -j 2 -d "$work/out.c" "$work/tasks" > "$work/ev.c"
complete "$work/ev.c" "$N"

sdk "$N" > "$work/sdk"
: > "$work/s2"; : > "$work/s4"
timed "$work/s2" filmeto-run -j 2 --no-cache -d "$work/out.s2" "$work/sdk" > "$work/ev.s2"
timed "$work/s4" filmeto-run -j 4 --no-cache -d "$work/out.s4" "$work/sdk" > "$work/ev.s4"
complete "$work/ev.s2" "$N"
complete "$work/ev.s4" "$N"
: > "$work/p"
if command -v parallel >/dev/null && parallel --version 2>/dev/null | grep -q GNU; then
	seq "$NPAR" > "$work/ids_par"
	timed "$work/p" parallel --will-cite -j2 true < "$work/ids_par"
fi

# Memory: peak RSS at 1,000 and at BIG tasks, the same plugin and options.
# Their folders go to a tmpfs where there is one: memory is measured here,
# and removing BIG folders from this disk takes minutes.
big=$work
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	big=$(mktemp -d /dev/shm/filmeto-bench.XXXXXX)
	cleanup() { rm -rf "$big"; (rm -rf "$work" &); }
fi
plain 1000 | /usr/bin/time -f %M -o "$work/rss_small" filmeto-run -j 2 --no-cache \
	-d "$big/out.small" > "$work/ev.small"
plain "$BIG" | /usr/bin/time -f %M -o "$work/rss_big" filmeto-run -j 2 --no-cache \
	-d "$big/out.big" > "$work/ev.big"
complete "$work/ev.small" 1000
complete "$work/ev.big" "$BIG"
seq "$NX" | /usr/bin/time -f %M -o "$work/rss_x" xargs -P2 -n1 true
# What it maps of shared libraries while it runs a task stream without media.
mkfifo "$work/in" "$work/evs"
filmeto-run -j 1 --no-cache -d "$work/out.maps" < "$work/in" > "$work/evs" &
pid=$!
exec 3> "$work/in" 4< "$work/evs"
plain 1 >&3
while read -r line <&4; do case $line in *'"completed"'*) break ;; esac; done
python3 - "$pid" > "$work/maps" <<'PY'
import sys
size, rss, files, lib = 0, 0, set(), None
for line in open("/proc/%s/smaps" % sys.argv[1]):
    f = line.split()
    if "-" in f[0] and len(f[0]) > 8 and ":" not in f[0]:
        lib = f[5] if len(f) >= 6 and ".so" in f[5] else None
        if lib:
            lo, hi = (int(v, 16) for v in f[0].split("-"))
            size += hi - lo
            files.add(lib)
    elif lib and f[0] == "Rss:":
        rss += int(f[1])
print("%.1f %.1f %d" % (size / 1048576, rss / 1024, len(files)))
PY
exec 3>&-
cat <&4 > /dev/null
exec 4<&-
wait "$pid"

awk -v work="$work" -v n="$N" -v nx="$NX" -v np="$NPAR" -v big="$BIG" -v rounds="$ROUNDS" \
	-v rs="$(cat "$work/rss_small")" -v rb="$(cat "$work/rss_big")" -v rx="$(cat "$work/rss_x")" \
	-v maps="$(cat "$work/maps")" '
function median(file,   k, v, line, i, j, t) {
	k = 0
	while ((getline line < file) > 0) { split(line, v, " "); w[++k] = v[1]; c[k] = v[2] }
	close(file)
	for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) {
		if (w[j] < w[i]) { t = w[i]; w[i] = w[j]; w[j] = t }
		if (c[j] < c[i]) { t = c[i]; c[i] = c[j]; c[j] = t }
	}
	cpu = k ? c[int((k + 1) / 2)] : 0
	return k ? w[int((k + 1) / 2)] : 0
}
BEGIN {
	f = median(work "/f"); fc = cpu
	x = median(work "/x"); xc = cpu
	cc = median(work "/c"); ccpu = cpu
	s2 = median(work "/s2"); s2c = cpu
	s4 = median(work "/s4")
	p = median(work "/p")
	rf = n / (f / 1e6); rx_ = nx / (x / 1e6)
	printf "dispatch: filmeto-run -j 2, plain json-c plugin  %8.0f tasks/s  %5.1f us CPU/task  (%d tasks, median of %d)\n", rf, fc / n * 1e6, n, rounds
	printf "dispatch: xargs -P2 true                         %8.0f tasks/s  %5.1f us CPU/task  (%d tasks)\n", rx_, xc / nx * 1e6, nx
	printf "dispatch: ratio filmeto/xargs = %.0f (target: >= 25000 tasks/s)\n", rf / rx_
	printf "dispatch: the same, output cache on (the default) %8.0f tasks/s  %5.1f us CPU/task\n", n / (cc / 1e6), ccpu / n * 1e6
	printf "dispatch: SDK no-op plugin, -j 2                  %8.0f tasks/s  %5.1f us CPU/task\n", n / (s2 / 1e6), s2c / n * 1e6
	printf "dispatch: SDK no-op plugin, -j 4                  %8.0f tasks/s\n", n / (s4 / 1e6)
	if (p > 0)
		printf "dispatch: parallel -j2 true                       %8.0f tasks/s  (%d tasks)\n", np / (p / 1e6), np
	split(maps, m, " ")
	printf "memory: filmeto-run peak RSS %.1f MiB at 1,000 tasks, %.1f MiB at %d: growth %.1f MiB (target: < 8 MiB)\n", rs / 1024, rb / 1024, big, (rb - rs) / 1024
	printf "memory: shared libraries filmeto-run maps: %s MiB in %s files, %s MiB of them resident\n", m[1], m[3], m[2]
	printf "memory: xargs -P2 peak RSS %.1f MiB\n", rx / 1024
}'
python3 "$ROOT/bench/latency.py"
