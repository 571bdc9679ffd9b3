#!/bin/sh
# filmeto-serve against what a user would write instead, in one run: the
# seeds' own stack, FastAPI on uvicorn (bench/serve_fastapi.py, one
# process as uvicorn starts it), answering the same routes from the same
# spool. wrk, C connections (default 64) on 2 threads, D seconds each
# (default 10), requests/s and the 99th percentile of latency:
#   GET  /api/v1/tasks/ID  a finished task's status, in a spool of SEED
#        (default 1,000) queued tasks and that one, run by filmeto-run
#   POST /api/v1/tasks     a new noop task each time (bench/serve_post.lua
#        makes the ids), durable before its 201 in both
# against filmeto-serve --workers 0 and against the FastAPI app, each on
# its own copy of the spool. Then STREAMS (default 1,000) Server-Sent
# Event streams held open on filmeto-serve (tests/sse_crowd.py, quiet
# tasks, a heartbeat a second): the server's RSS once all have beaten.
# Targets: 5x FastAPI's throughput, p99 under 5 ms, under 64 MiB.
# The machine's load is printed first: the figures are only as quiet as it.
set -eu
D=${D:-10}
C=${C:-64}
SEED=${SEED:-1000}
STREAMS=${STREAMS:-1000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PATH="$ROOT/cmd:$PATH"
PY=/usr/bin/python3 # Debian's, with python3-fastapi and python3-uvicorn
work=$(mktemp -d)
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

command -v wrk >/dev/null || { echo "serve.sh: wrk is not installed (make bench installs it)" >&2; exit 1; }
$PY -c 'import fastapi, uvicorn' 2>/dev/null ||
	{ echo "serve.sh: python3-fastapi and python3-uvicorn are not installed (make bench installs them)" >&2; exit 1; }

port() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
up() { # up URL: waits until it answers, 10 s at most
	i=0
	until curl -s -o /dev/null "$1"; do
		i=$((i + 1))
		[ $i -lt 200 ] || { echo "serve.sh: $1 does not answer" >&2; exit 1; }
		sleep 0.05
	done
}
# field NAME FILE: from wrk --latency's output, requests/s or the p99 in ms.
rps() { awk '/^Requests\/sec:/ { printf "%d", $2 }' "$1"; }
p99() {
	awk '$1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
		printf "%.2f", u == "us" ? v / 1000 : u == "s" ? v * 1000 : u == "m" ? v * 60000 : v }' "$1"
}
non2xx() { awk '/^  Non-2xx or 3xx responses:/ { n = $NF } END { print n + 0 }' "$1"; }

echo "load: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; wrk -t2 -c$C -d${D}s"

# --- the spool: SEED queued tasks and one finished one ----------------------
export FILMETO_PLUGIN_PATH="$ROOT/plugins" XDG_CACHE_HOME="$work/cache"
export FILMETO_SPOOL="$work/spool"
printf '{"type":"task","task_id":"g1","tool_name":"noop","plugin_name":"noop"}\n' >"$work/g1"
filmeto-submit --queue --json "$work/g1" >/dev/null
filmeto-run --spool --drain --no-cache 2>/dev/null
awk -v n="$SEED" 'BEGIN { for (i = 0; i < n; i++)
	printf "{\"type\":\"task\",\"task_id\":\"q%d\",\"tool_name\":\"noop\",\"plugin_name\":\"noop\"}\n", i }' \
	>"$work/seed"
filmeto-submit --queue --json "$work/seed" >/dev/null
cp -a "$work/spool" "$work/fspool"
cp -a "$work/spool" "$work/pspool"

# bench NAME URL: GET then POST against one server.
bench() {
	wrk -t2 -c"$C" -d"${D}s" --latency "$2/api/v1/tasks/g1" >"$work/$1.get"
	wrk -t2 -c"$C" -d"${D}s" --latency -s "$ROOT/bench/serve_post.lua" "$2/api/v1/tasks" >"$work/$1.post"
	for k in get post; do
		[ "$(non2xx "$work/$1.$k")" -eq 0 ] ||
			{ echo "serve.sh: $1 $k: $(non2xx "$work/$1.$k") answers were not 2xx" >&2; exit 1; }
	done
}

fport=$(port)
FILMETO_SPOOL="$work/fspool" filmeto-serve --listen "127.0.0.1:$fport" --workers 0 2>"$work/fserve.err" &
fpid=$!
pids="$fpid"
up "http://127.0.0.1:$fport/health"
bench filmeto "http://127.0.0.1:$fport"
kill "$fpid"
wait "$fpid" || true
pids=

pport=$(port)
FILMETO_SPOOL="$work/pspool" $PY -m uvicorn --app-dir "$ROOT/bench" serve_fastapi:app \
	--host 127.0.0.1 --port "$pport" --log-level warning 2>"$work/fastapi.err" &
ppid=$!
pids="$ppid"
up "http://127.0.0.1:$pport/api/v1/tasks/g1"
bench fastapi "http://127.0.0.1:$pport"
kill "$ppid"
wait "$ppid" || true
pids=

# Both queued what they said: each answer's task is in queue/, as filmeto-watch --list shows.
for s in fspool pspool; do
	n=$(FILMETO_SPOOL="$work/$s" filmeto-watch --list --state queued | wc -l)
	[ "$n" -gt "$SEED" ] || { echo "serve.sh: $s: nothing was queued" >&2; exit 1; }
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }'; }
for k in get post; do
	f=$(rps "$work/filmeto.$k")
	p=$(rps "$work/fastapi.$k")
	printf '%-4s filmeto-serve %6d req/s p99 %6s ms | FastAPI %6d req/s p99 %7s ms | %sx\n' \
		"$(echo $k | tr a-z A-Z)" "$f" "$(p99 "$work/filmeto.$k")" "$p" "$(p99 "$work/fastapi.$k")" \
		"$(ratio "$f" "$p")"
done

# --- STREAMS open streams, on 16 queued tasks -------------------------------
per=$(((STREAMS + 15) / 16))
crowd=
left=$STREAMS
i=0
while [ "$left" -gt 0 ]; do
	k=$((left < per ? left : per))
	crowd="$crowd q$i:$k"
	left=$((left - k))
	i=$((i + 1))
done
sport=$(port)
(
	ulimit -n 4096
	FILMETO_SERVE_HEARTBEAT=1 FILMETO_SPOOL="$work/spool" exec filmeto-serve \
		--listen "127.0.0.1:$sport" --workers 0 2>"$work/sserve.err"
) &
spid=$!
pids="$spid"
up "http://127.0.0.1:$sport/health"
# The subshell execs the server: its pid is the server's.
$PY "$ROOT/tests/sse_crowd.py" --heartbeat 1 --hold 60 "$sport" "$spid" $crowd >"$work/crowd" &
cpid=$!
pids="$cpid $spid"
i=0
until grep -qs '^rss ' "$work/crowd"; do
	i=$((i + 1))
	kill -0 "$cpid" 2>/dev/null && [ $i -lt 1200 ] || { echo "serve.sh: the streams did not open" >&2; exit 1; }
	sleep 0.05
done
read -r _ first top <<EOF
$(grep '^rss ' "$work/crowd")
EOF
echo "streams: $(grep '^beat ' "$work/crowd" | cut -d' ' -f2) open, each beating: filmeto-serve RSS $((first / 1024)) MiB, at most $((top / 1024)) MiB over the next 2 s"
