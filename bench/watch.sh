#!/bin/sh
# filmeto-watch on a long stream, measured in one run against what a user
# would reach for instead: 1,000,000 events as filmeto-run writes them
# (task, started, progress, heartbeat, log, completed) for 20,000 tasks,
# read by `filmeto-watch -q` (summary only) and by `jq -c .`; then the peak
# RSS of filmeto-watch, which must not grow with the number of events.
set -eu
EVENTS=${EVENTS:-1000000}
TASKS=${TASKS:-20000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PATH="$ROOT/cmd:$PATH"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

command -v jq >/dev/null || { echo "watch.sh: jq is not installed" >&2; exit 1; }

# Per task: task, started, 40 progress, 4 heartbeats, 3 logs, completed.
awk -v events="$EVENTS" -v tasks="$TASKS" 'BEGIN {
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
}' >"$work/events"
n=$(wc -l <"$work/events")

now() { date +%s%N; }

t0=$(now); filmeto-watch -q <"$work/events" >/dev/null 2>"$work/summary"; t1=$(now)
w=$(( (t1 - t0) / 1000 ))
t0=$(now); jq -c . <"$work/events" >/dev/null; t1=$(now)
j=$(( (t1 - t0) / 1000 ))
grep -q "$TASKS tasks: $TASKS completed" "$work/summary"
/usr/bin/time -f %M -o "$work/rss" filmeto-watch -q <"$work/events" >/dev/null 2>&1

awk -v n="$n" -v w="$w" -v j="$j" -v rss="$(cat "$work/rss")" 'BEGIN {
	printf "stream: %d events\n", n
	printf "time: filmeto-watch -q  %6.2fs  (%.0f events/s)\n", w / 1e6, n / (w / 1e6)
	printf "time: jq -c .           %6.2fs  (%.0f events/s)\n", j / 1e6, n / (j / 1e6)
	printf "time: ratio jq/filmeto-watch = %.1f (target: >= 3)\n", j / w
	printf "memory: filmeto-watch peak RSS %.1f MiB (target: <= 16 MiB)\n", rss / 1024
}'
