#!/bin/sh
# filmeto-watch on a long stream, measured in one run against what a user
# would reach for instead (issue 21's table): `filmeto-watch -q` (summary
# only, the copy of the stream to a pipe) against `jq -c .`, with `cat` as
# the floor no reader can beat, in alternating rounds; medians of wall time
# and of user+sys CPU, and the ratio jq/filmeto-watch (target: >= 6).
#
# The streams are made here, shaped as filmeto-run writes them (lib/exec.c:
# job_event, announce, the progress of fm_plugin_render, job_log, the
# result line), two tasks at a time as with -j 2:
#   issue  1,000,000 events of 1,000 tasks, ~167 bytes each (167 MB): each
#          task a started line, ~990 render progress lines ("frame N of F",
#          percent 10 + 90 * N / F in the shortest spelling), a heartbeat
#          every 100 lines, a few log lines, and its completed line
#   spaced the same stream as Python's json.dumps spells it, a space after
#          each ':' and ',' (a script's events, or the issue's 1.94 s: a
#          stream not spelled as filmeto-run spells it)
#   many   the same number of events for 20,000 tasks of 50 lines each
#          (task lines too), the earlier benchmark's stream: SHAPES="issue
#          spaced many" (the default leaves it out, to stay within 2 min)
# Then the peak RSS of filmeto-watch, which must not grow with the events,
# and a check that the copy on stdout is the stream byte for byte.
#
# WATCH=path measures another build (the commit before a change, say).
set -eu
EVENTS=${EVENTS:-1000000}
ROUNDS=${ROUNDS:-3}
SHAPES=${SHAPES:-issue spaced}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PATH="$ROOT/cmd:$PATH"
WATCH=${WATCH:-$ROOT/cmd/filmeto-watch}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

command -v jq >/dev/null || { echo "watch.sh: jq is not installed" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "watch.sh: /usr/bin/time is not installed" >&2; exit 1; }

# The issue's stream: 1,000 tasks, two running at once, each rendering F
# frames with one progress line a frame.
gen_issue() {
	awk -v events="$1" -v tasks=1000 '
	function num(x,   s) {	# fm_json_double: the shortest spelling that reads back
		s = sprintf("%.15g", x)
		if (s + 0 != x) s = sprintf("%.16g", x)
		if (s + 0 != x) s = sprintf("%.17g", x)
		if (s !~ /[.en]/) s = s ".0"
		return s
	}
	function ts(i,   ms) {
		ms = (i * 37) % 1000
		return sprintf("\"timestamp\":\"2026-11-21T10:%02d:%02d.%03dZ\"", int(i / 60000) % 60, int(i / 1000) % 60, ms)
	}
	function line(k, i,   id, f, n, frames) {
		id = sprintf("scene%03d-zoom", i)
		frames = per - 9
		n = step[i]++
		if (n == 0)
			return sprintf("{\"type\":\"started\",\"task_id\":\"%s\",%s,\"attempt\":1,\"plugin_name\":\"kenburns\",\"tool_name\":\"image2video\"}", id, ts(k))
		if (n == 1)
			return sprintf("{\"type\":\"progress\",\"task_id\":\"%s\",%s,\"attempt\":1,\"percent\":0.0,\"message\":\"reading the image\",\"stage\":\"probe\"}", id, ts(k))
		if (n == 2)
			return sprintf("{\"type\":\"log\",\"task_id\":\"%s\",%s,\"attempt\":1,\"level\":\"info\",\"message\":\"still image 1920x1080, zooming 1.00 to 1.15 over %d frames at 24 fps\"}", id, ts(k), frames)
		if (n == per - 1)
			return sprintf("{\"type\":\"completed\",\"task_id\":\"%s\",%s,\"status\":\"success\",\"output_files\":[\"/home/ann/films/lighthouse/out/%s/clip.mp4\"],\"output_resources\":[{\"type\":\"video\",\"path\":\"/home/ann/films/lighthouse/out/%s/clip.mp4\",\"mime_type\":\"video/mp4\",\"size\":%d,\"metadata\":{\"width\":1280,\"height\":720,\"duration\":%s,\"fps\":24}}],\"execution_time\":%s,\"attempts\":1,\"metadata\":{\"tool_name\":\"image2video\",\"plugin_name\":\"kenburns\"}}", id, ts(k), id, id, 2400000 + i * 917, num(frames / 24), num(int(frames * 41.7) / 1000))
		if (n == per - 2)
			return sprintf("{\"type\":\"log\",\"task_id\":\"%s\",%s,\"attempt\":1,\"level\":\"info\",\"message\":\"encoded %d frames in %s s (x264 preset veryfast, crf 20)\"}", id, ts(k), frames, num(int(frames * 41.7) / 1000))
		if (n % 100 == 50)
			return sprintf("{\"type\":\"heartbeat\",\"task_id\":\"%s\",%s,\"attempt\":1}", id, ts(k))
		if (n % 250 == 125)
			return sprintf("{\"type\":\"log\",\"task_id\":\"%s\",%s,\"attempt\":1,\"level\":\"warning\",\"message\":\"frame %d: encoder queue full, waiting\"}", id, ts(k), n)
		f = n - 2
		return sprintf("{\"type\":\"progress\",\"task_id\":\"%s\",%s,\"attempt\":1,\"percent\":%s,\"message\":\"frame %d of %d\",\"stage\":\"render\"}", id, ts(k), num(10 + f * 100 / frames * 0.9), f, frames)
	}
	BEGIN {
		per = int(events / tasks)
		k = 0
		for (i = 0; i < tasks; i += 2)
			for (j = 0; j < 2 * per; j++)
				print line(k++, i + (j % 2))
	}'
}

# The issue's stream with spaces, as json.dumps(event) writes it; no text
# in it holds '":' or ',"'.
gen_spaced() {
	gen_issue "$1" | sed 's/":/": /g; s/,"/, "/g'
}

# The earlier stream: many short tasks. Per task: task, started, 40
# progress, 4 heartbeats, 3 logs, completed.
gen_many() {
	awk -v events="$1" -v tasks=20000 'BEGIN {
		per = int(events / tasks)
		ts = "\"timestamp\":\"2026-11-21T10:00:00.123Z\""
		for (i = 0; i < tasks; i++) {
			id = sprintf("scene%05d-image", i)
			printf "{\"type\":\"task\",\"task_id\":\"%s\",\"tool_name\":\"text2image\",\"plugin_name\":\"titlecard\",\"parameters\":{\"prompt\":\"a lighthouse at dusk, shot %d\",\"width\":1280,\"height\":720},\"resources\":[],\"timeout\":300,\"depends_on\":[],\"metadata\":{}}\n", id, i
			printf "{\"type\":\"started\",\"task_id\":\"%s\",%s,\"attempt\":1,\"plugin_name\":\"titlecard\",\"tool_name\":\"text2image\"}\n", id, ts
			for (k = 0; k < per - 2 - 1; k++) {
				if (k % 12 == 5)
					printf "{\"type\":\"heartbeat\",\"task_id\":\"%s\",%s,\"attempt\":1}\n", id, ts
				else if (k % 16 == 9)
					printf "{\"type\":\"log\",\"task_id\":\"%s\",%s,\"attempt\":1,\"level\":\"info\",\"message\":\"rendering frame %d of 48\"}\n", id, ts, k
				else
					printf "{\"type\":\"progress\",\"task_id\":\"%s\",%s,\"attempt\":1,\"percent\":%.1f,\"message\":\"drawing\",\"stage\":\"render\",\"data\":{\"frame\":%d}}\n", id, ts, k * 100 / per, k
			}
			printf "{\"type\":\"completed\",\"task_id\":\"%s\",%s,\"status\":\"success\",\"output_files\":[\"/home/ann/filmeto-out/%s/card.png\"],\"output_resources\":[{\"type\":\"image\",\"path\":\"/home/ann/filmeto-out/%s/card.png\",\"mime_type\":\"image/png\",\"size\":48213,\"metadata\":{}}],\"execution_time\":1.8,\"attempts\":1,\"metadata\":{}}\n", id, ts, id, id
		}
	}'
}

# One timed run of "$@" on the stream, stdout into a pipe as in a user's
# pipeline: "wall cpu" (seconds) appended to the file $1.
timed() {
	out=$1
	shift
	/usr/bin/time -f '%e %U %S' -o "$work/t" "$@" <"$work/events" 2>/dev/null | cat >/dev/null
	awk '{ printf "%s %.2f\n", $1, $2 + $3 }' "$work/t" >>"$out"
}

median() {
	sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

measure() {
	shape=$1
	"gen_$shape" "$EVENTS" >"$work/events"
	n=$(wc -l <"$work/events")
	bytes=$(wc -c <"$work/events")
	tasks=$(grep -c -E '"type": ?"completed"' "$work/events")
	: >"$work/watch" && : >"$work/jq" && : >"$work/cat"
	r=0
	while [ "$r" -lt "$ROUNDS" ]; do
		# Alternating order, so that neither always runs on a warm cache.
		if [ $((r % 2)) -eq 0 ]; then
			timed "$work/watch" "$WATCH" -q
			timed "$work/jq" jq -c .
		else
			timed "$work/jq" jq -c .
			timed "$work/watch" "$WATCH" -q
		fi
		timed "$work/cat" cat
		r=$((r + 1))
	done
	"$WATCH" -q <"$work/events" 2>"$work/summary" >"$work/copy"
	grep -q "$tasks tasks: $tasks completed" "$work/summary" ||
		{ echo "watch.sh: unexpected summary: $(cat "$work/summary")" >&2; exit 1; }
	cmp -s "$work/events" "$work/copy" ||
		{ echo "watch.sh: the copy on stdout is not the stream" >&2; exit 1; }
	/usr/bin/time -f %M -o "$work/rss" "$WATCH" -q <"$work/events" >/dev/null 2>&1
	for f in watch jq cat; do
		cut -d' ' -f1 "$work/$f" >"$work/$f.wall"
		cut -d' ' -f2 "$work/$f" >"$work/$f.cpu"
	done
	awk -v shape="$shape" -v n="$n" -v bytes="$bytes" -v tasks="$tasks" -v rounds="$ROUNDS" \
	    -v ww="$(median "$work/watch.wall")" -v wc="$(median "$work/watch.cpu")" \
	    -v jw="$(median "$work/jq.wall")" -v jc="$(median "$work/jq.cpu")" \
	    -v cw="$(median "$work/cat.wall")" -v cc="$(median "$work/cat.cpu")" \
	    -v rss="$(cat "$work/rss")" 'BEGIN {
		printf "stream %s: %d events, %d tasks, %.0f MB (%.0f bytes/event); medians of %d rounds\n", shape, n, tasks, bytes / 1e6, bytes / n, rounds
		printf "  filmeto-watch -q  wall %6.2fs  cpu %6.2fs  (%.0f events/s)\n", ww, wc, n / (ww > 0 ? ww : 0.01)
		printf "  jq -c .           wall %6.2fs  cpu %6.2fs\n", jw, jc
		printf "  cat               wall %6.2fs  cpu %6.2fs\n", cw, cc
		printf "  ratio jq/filmeto-watch: wall %.1fx, cpu %.1fx (target: >= 6)\n", jw / (ww > 0 ? ww : 0.01), jc / (wc > 0 ? wc : 0.01)
		printf "  filmeto-watch peak RSS %.1f MiB (target: <= 16 MiB); copy on stdout byte-exact\n", rss / 1024
	}'
}

for shape in $SHAPES; do
	measure "$shape"
done
