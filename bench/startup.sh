#!/bin/sh
# Start-up (issue 21): filmeto-run with empty input, and with a stream of
# one task for the bundled noop plugin, the way a Makefile that calls
# filmeto-run per target pays it. Side by side, in alternating rounds:
#   true            the floor: what starting any program costs here
#   jq -n .         the comparable: a small C command-line tool on a JSON
#                   library, the kind a Makefile calls per target
#   ffmpeg -version a command that loads libav* and does nothing: the
#                   cost filmeto-run paid before the media libraries moved
#                   into its combine helper (and libcurl became opened on
#                   first use)
# Medians of wall time and of user+sys CPU (the CPU figure is steadier on
# a busy machine). Target: <= 30 ms for both filmeto-run cases.
#
# BEFORE=DIR adds the same two cases for another built tree (DIR/cmd,
# DIR/plugins): the commit before the change, built in a clone.
# RUNS (default 30) is the number of rounds.
set -eu
RUNS=${RUNS:-30}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BEFORE=${BEFORE:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
# Nothing of the machine's: no user plugins, config or cache.
export XDG_DATA_HOME="$work/data" XDG_CONFIG_HOME="$work/config" XDG_CACHE_HOME="$work/cache"

# The task a user's Makefile would pipe in, made by filmeto-submit.
"$ROOT/cmd/filmeto-submit" -t noop -P noop -i n >"$work/noop.jsonl"
for tool in jq ffmpeg; do
	command -v "$tool" >/dev/null || { echo "startup: needs $tool (make bench installs it)" >&2; exit 1; }
done

python3 - "$RUNS" "$work" "$ROOT" "$BEFORE" <<'PY'
import os, statistics, subprocess, sys, time

runs, work, root, before = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
noop = os.path.join(work, "noop.jsonl")

def filmeto(tree, name, task):
    run = os.path.join(tree, "cmd", "filmeto-run")
    argv = [run, "--no-cache", "-d", os.path.join(work, "out-" + name)]
    return (name, argv + ([noop] if task else []), {"FILMETO_PLUGIN_PATH": os.path.join(tree, "plugins")})

cases = [("true", ["true"], {}), ("jq -n .", ["jq", "-n", "."], {}),
         ("ffmpeg -version", ["ffmpeg", "-version"], {}),
         filmeto(root, "filmeto-run, empty input", False),
         filmeto(root, "filmeto-run, one noop task", True)]
if before:
    cases += [filmeto(before, "before: filmeto-run, empty input", False),
              filmeto(before, "before: filmeto-run, one noop task", True)]

def once(argv, env):
    e = dict(os.environ, **env)
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, env=e)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read()
    p.stderr.close()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit("startup: %s exited %d: %s" % (" ".join(argv), p.returncode, err.decode()[-500:]))
    # the child's and what it waited for (the noop plugin): user + sys
    return wall * 1000, (ru.ru_utime + ru.ru_stime) * 1000

wall = {c[0]: [] for c in cases}
cpu = {c[0]: [] for c in cases}
for c in cases:  # one warm-up each: the page cache, not the first exec, is measured
    once(c[1], c[2])
for r in range(runs):
    # alternating rounds, the order rotated, so that load drifts hit all alike
    order = cases[r % len(cases):] + cases[:r % len(cases)]
    for name, argv, env in order:
        w, c = once(argv, env)
        wall[name].append(w)
        cpu[name].append(c)

med = {n: statistics.median(v) for n, v in wall.items()}
mcpu = {n: statistics.median(v) for n, v in cpu.items()}
jq = med["jq -n ."]
print("startup: median of %d alternating rounds; wall ms, user+sys CPU ms, wall ratio to jq -n ." % runs)
for name, _, _ in cases:
    print("startup: %-36s %7.1f ms  cpu %6.1f ms  x%.2f jq" % (name, med[name], mcpu[name], med[name] / jq))
for case in ("empty input", "one noop task"):
    now = med["filmeto-run, " + case]
    line = "startup: filmeto-run, %s: %.1f ms, target <= 30 ms: %s" % (
        case, now, "met" if now <= 30 else "NOT met")
    if before:
        was = med["before: filmeto-run, " + case]
        line += "; before %.1f ms, %.2fx faster" % (was, was / now)
    print(line)
PY
