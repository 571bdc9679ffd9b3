#!/bin/sh
# filmeto-plugin list over 200 installed plugins, against what one plugin
# costs to start: python3 tests/plugins/pyfilmeto/main.py until its ready
# line. Each is the median of 10 runs. Listing reads manifests only, so it
# should cost less than starting a single Python plugin; target: <= 50 ms.
set -eu
N=${N:-200}
RUNS=${RUNS:-10}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PATH="$ROOT/cmd:$PATH"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
export XDG_DATA_HOME="$work/data" FILMETO_PLUGIN_PATH=

now() { date +%s%N; }

# median FILE: the middle of the numbers in FILE, one per line.
median() {
	sort -n "$1" | awk '{ v[NR] = $1 } END {
		print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

dir="$XDG_DATA_HOME/filmeto/plugins"
i=0
while [ "$i" -lt "$N" ]; do
	mkdir -p "$dir/p$i"
	cat > "$dir/p$i/plugin.yaml" <<YAML
name: p$i
version: 1.0.$i
description: Benchmark plugin $i
command: ["./main"]
tools:
  - name: text2text
    parameters:
      - {name: text, type: string, required: true}
      - {name: repeat, type: integer, default: 1, min: 1, max: 100}
YAML
	i=$((i + 1))
done
[ "$(filmeto-plugin list | grep -c '^p[0-9]')" -eq "$N" ]

: > "$work/list"
: > "$work/py"
i=0
while [ "$i" -lt "$RUNS" ]; do
	t0=$(now); filmeto-plugin list > /dev/null; t1=$(now)
	echo $(( (t1 - t0) / 1000 )) >> "$work/list"
	# Until the ready line: the plugin then waits on stdin, which is closed.
	t0=$(now)
	python3 "$ROOT/tests/plugins/pyfilmeto/main.py" < /dev/null 2> /dev/null |
		grep -q '"method":"ready"'
	t1=$(now)
	echo $(( (t1 - t0) / 1000 )) >> "$work/py"
	i=$((i + 1))
done

awk -v n="$N" -v runs="$RUNS" -v l="$(median "$work/list")" -v p="$(median "$work/py")" 'BEGIN {
	printf "plugin list: filmeto-plugin list, %d plugins   %8.1f ms  (median of %d; target: <= 50 ms)\n", n, l / 1000, runs
	printf "plugin list: one Python plugin to ready        %8.1f ms  (median of %d)\n", p / 1000, runs
	printf "plugin list: ratio list/python start = %.2f\n", l / p
	if (l / 1000 > 50) print "plugin list: over the 50 ms target"
}'
