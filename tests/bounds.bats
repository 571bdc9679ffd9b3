#!/usr/bin/env bats
# Every line filmeto-run writes fits the 4 MiB line limit, whatever a
# plugin sends: a result's metadata or error details over their budget
# become a marker, too many outputs fail the task, and progress and log
# events are cut; every task still ends in exactly one final line that
# filmeto-watch accepts. tests/plugins/bigresult sends the large things.

load test_helper

LINE_MAX=4194304

setup() {
	common_setup
	private_plugins
}

# big ID MODE SIZE [COUNT]
big() {
	printf '{"type":"task","task_id":"%s","tool_name":"oversize","plugin_name":"bigresult","parameters":{"mode":"%s","size":%s,"count":%s}}\n' \
		"$1" "$2" "$3" "${4:-1}"
}

# run_watched: the tasks in file tasks through filmeto-run and filmeto-watch;
# the stream lands in stream, watch's report in report, its status in $watched.
run_watched() {
	watched=0
	filmeto-run -j 2 -d out tasks | filmeto-watch > stream 2> report || watched=$?
}

# Every line of FILE is within the limit.
all_fit() {
	python3 - "$1" "$LINE_MAX" <<'PY'
import sys
limit = int(sys.argv[2])
for n, line in enumerate(open(sys.argv[1], "rb"), 1):
    if len(line.rstrip(b"\n")) > limit:
        sys.exit(f"line {n} is {len(line)} bytes")
PY
}

@test "metadata near or over the line limit: the final line fits, with a marker in its place" {
	{
		big small metadata 1000
		big budget metadata $((1024 * 1024 - 100))
		big near metadata $((LINE_MAX - 200))
	} > tasks
	run_watched
	[ "$watched" -eq 0 ]
	all_fit stream
	[ "$(jget stream 'sorted(l["task_id"] for l in by("completed"))')" = '["budget", "near", "small"]' ]
	# Within its budget, metadata passes whole.
	[ "$(jget stream '[len(l["metadata"]["blob"]) for l in by("completed") if l["task_id"] == "budget"][0]')" = $((1024 * 1024 - 100)) ]
	[ "$(jget stream '[l["metadata"] for l in by("completed") if l["task_id"] == "near"][0]["truncated"]["size"] > 4000000')" = true ]
	[ "$(jget stream '[l["metadata"]["plugin_name"] for l in by("completed") if l["task_id"] == "near"][0]')" = bigresult ]
	[ "$(jget stream '"blob" in [l for l in by("completed") if l["task_id"] == "near"][0]["metadata"]')" = false ]
	[[ "$(jget stream '[l["message"] for l in by("log") if l["task_id"] == "near"]')" == *"metadata"*"limit"* ]]
	[[ "$(cat report)" == *"3 tasks: 3 completed, 0 failed"* ]]
	[[ "$(cat report)" != *"longer than the limit"* ]]
}

@test "more outputs than a line can carry fail the task with a clear error; fewer pass" {
	{ big many files 0 15000; big some files 0 2000; } > tasks
	run_watched
	[ "$watched" -eq 1 ]
	all_fit stream
	[ "$(jget stream '[l["task_id"] for l in by("failed")]')" = '["many"]' ]
	[ "$(jget stream 'by("failed")[0]["error"]["code"]')" = PLUGIN_EXECUTION_ERROR ]
	[[ "$(jget stream 'by("failed")[0]["error"]["message"]')" == *"15000 output files"* ]]
	[ "$(jget stream 'by("failed")[0]["output_files"]')" = '[]' ]
	[ "$(jget stream '[len(l["output_files"]) for l in by("completed")]')" = '[2000]' ]
	[[ "$(cat report)" == *"2 tasks: 1 completed, 1 failed"* ]]
	[[ "$(cat report)" != *"did not finish"* ]]
	# Nothing too large was kept in the cache: a rerun fails the same way.
	big many2 files 0 15000 > tasks
	run_watched
	[ "$(jget stream '[l["task_id"] for l in by("failed")]')" = '["many2"]' ]
}

@test "error details and JSON-RPC error data over their budget become a marker" {
	{ big det details $((LINE_MAX - 300)); big rpc rpcerror $((LINE_MAX - 300)); } > tasks
	run_watched
	[ "$watched" -eq 1 ]
	all_fit stream
	[ "$(jget stream 'sorted(l["task_id"] for l in by("failed"))')" = '["det", "rpc"]' ]
	[ "$(jget stream '[l["error"]["message"] for l in by("failed") if l["task_id"] == "det"][0]')" = "too much detail" ]
	[ "$(jget stream 'all(l["error"]["details"]["truncated"]["size"] > 4000000 for l in by("failed"))')" = true ]
	[[ "$(cat report)" == *"2 tasks: 0 completed, 2 failed"* ]]
}

@test "progress and log events a plugin sends near the limit are cut to fit" {
	{
		big pmsg progress $((LINE_MAX - 100))
		big pdata progressdata $((LINE_MAX - 100))
		big stray stray $((LINE_MAX - 10))
	} > tasks
	run_watched
	[ "$watched" -eq 0 ]
	all_fit stream
	[ "$(jget stream 'sorted(l["task_id"] for l in by("completed"))')" = '["pdata", "pmsg", "stray"]' ]
	[ "$(jget stream '[len(l["message"]) < 4096 for l in by("progress") if l["task_id"] == "pmsg"]')" = '[true]' ]
	[ "$(jget stream '[l["data"]["truncated"]["size"] > 4000000 for l in by("progress") if l["task_id"] == "pdata"]')" = '[true]' ]
	[ "$(jget stream '[len(l["message"]) < 4096 for l in by("log") if l["task_id"] == "stray" and l["level"] == "warning"]')" = '[true]' ]
	[[ "$(cat report)" == *"3 tasks: 3 completed, 0 failed"* ]]
	[[ "$(cat report)" != *"longer than the limit"* ]]
}
