#!/usr/bin/env bats
# Every way a plugin can fail ends in one clear final line, the pool goes
# on, and nothing is left behind: no process, no temporary file.

load test_helper

setup() {
	common_setup
	private_plugins
}

# chaos MODE [more task members]: runs one chaos task through filmeto-run.
chaos() {
	printf '{"type":"task","task_id":"c","tool_name":"text2text","plugin_name":"chaos","parameters":{"mode":"%s"}%s}\n' \
		"$1" "${2:-}" > task
	run --separate-stderr timeout 60 filmeto-run -d out task
	echo "$output" > events
}

no_leftovers() {
	no_plugins_left 5
	[ -z "$(find out "$XDG_CACHE_HOME" \( -name '*.tmp' -o -name '.tmp-*' \) 2>/dev/null)" ]
}

@test "chaos ok: the baseline completes" {
	chaos ok
	[ "$status" -eq 0 ]
	[ "$(final c '["type"]')" = completed ]
	no_leftovers
}

@test "chaos crash: PLUGIN_EXECUTION_ERROR with exit status and stderr, after a retry" {
	chaos crash
	[ "$status" -eq 1 ]
	[ "$(final c '["error"]["code"]')" = PLUGIN_EXECUTION_ERROR ]
	[ "$(final c '["error"]["details"]["exit_status"]')" = 3 ]
	[ "$(final c '["error"]["details"]["stderr"][-1]')" = "chaos: crashing on purpose" ]
	[ "$(final c '["attempts"]')" = 2 ]
	[ "$(jget events '[l["attempt"] for l in by("started")]')" = '[1, 2]' ]
	[ "$(jget events 'len([l for l in by("log") if l["level"] == "warning" and "retrying" in l["message"]])')" = 1 ]
	[ "$(jget events 'len(by("failed"))')" = 1 ]
	no_leftovers
}

@test "chaos hang: the idle timeout is a TIMEOUT_ERROR" {
	chaos hang
	[ "$status" -eq 1 ]
	[ "$(final c '["error"]["code"]')" = TIMEOUT_ERROR ]
	[[ "$(final c '["error"]["message"]')" == *"sent nothing for 2s"* ]]
	no_leftovers
}

@test "chaos busy: heartbeats keep it alive until the hard cap" {
	chaos busy ',"timeout":3'
	[ "$status" -eq 1 ]
	[ "$(final c '["error"]["code"]')" = TIMEOUT_ERROR ]
	[[ "$(final c '["error"]["message"]')" == *"timed out after 3s"* ]]
	# Plugin heartbeats reset the 2 s idle timer; only the cap ended it.
	[ "$(jget events 'len([l for l in by("heartbeat") if l["attempt"] == 1]) > 5')" = true ]
	no_leftovers
}

@test "chaos garbage: PLUGIN_EXECUTION_ERROR naming the broken line" {
	chaos garbage
	[ "$status" -eq 1 ]
	[ "$(final c '["error"]["code"]')" = PLUGIN_EXECUTION_ERROR ]
	[[ "$(final c '["error"]["message"]')" == *"not JSON-RPC"* ]]
	[ "$(final c '["error"]["details"]["signal"]')" = 9 ]
	no_leftovers
}

@test "chaos longline: an over-long line is PLUGIN_EXECUTION_ERROR, memory stays bounded" {
	chaos longline
	[ "$status" -eq 1 ]
	[[ "$(final c '["error"]["message"]')" == *"longer than the 4 MiB limit"* ]]
	no_leftovers
}

@test "chaos wrongid: an answer to a request never sent is PLUGIN_EXECUTION_ERROR" {
	chaos wrongid
	[ "$status" -eq 1 ]
	[[ "$(final c '["error"]["message"]')" == *"which was never sent"* ]]
	no_leftovers
}

@test "chaos closeout: closing stdout mid-task is PLUGIN_EXECUTION_ERROR" {
	chaos closeout
	[ "$status" -eq 1 ]
	[[ "$(final c '["error"]["message"]')" == *"closed its output before answering"* ]]
	no_leftovers
}

@test "chaos ignoreterm: a plugin that ignores SIGTERM still goes (SIGKILL)" {
	chaos ignoreterm ',"timeout":1'
	[ "$status" -eq 1 ]
	[ "$(final c '["error"]["code"]')" = TIMEOUT_ERROR ]
	no_leftovers
}

@test "chaos floodstderr: the log is bounded and the task still completes" {
	chaos floodstderr
	[ "$status" -eq 0 ]
	[ "$(final c '["type"]')" = completed ]
	[ "$(jget events 'len(by("log")) <= 1001')" = true ]
	[ "$(jget events 'by("log")[-1]["message"]')" = "plugin log truncated: further lines are dropped" ]
	[ "$(wc -c < events)" -lt 2000000 ]
	no_leftovers
}

@test "chaos badpercent: progress is clamped to 0..100" {
	chaos badpercent
	[ "$status" -eq 0 ]
	[ "$(jget events '[l["percent"] for l in by("progress")]')" = '[10.0, 0.0, 100.0]' ]
	no_leftovers
}

@test "chaos orphan: what a plugin started dies with it" {
	chaos orphan
	[ "$status" -eq 1 ]
	[ "$(final c '["error"]["details"]["exit_status"]')" = 4 ]
	no_leftovers
}

@test "chaos flaky: a crash that passes is retried and completes" {
	chaos flaky
	[ "$status" -eq 0 ]
	[ "$(final c '["type"]')" = completed ]
	[ "$(final c '["attempts"]')" = 2 ]
	[ "$(cat out/c/out.txt)" = "second time lucky" ]
	no_leftovers
}

@test "chaos ratelimit: RATE_LIMIT_EXCEEDED is retried" {
	chaos ratelimit
	[ "$status" -eq 0 ]
	[ "$(final c '["attempts"]')" = 2 ]
	no_leftovers
}

@test "chaos fail: an ordinary error result is not retried" {
	chaos fail
	[ "$status" -eq 1 ]
	[ "$(final c '["error"]["message"]')" = "an ordinary failure" ]
	[ "$(final c '["attempts"]')" = 1 ]
	no_leftovers
}

@test "a crashing plugin does not stop the others: the pool replaces it" {
	{
		for i in 1 2 3; do
			printf '{"type":"task","task_id":"ok%s","tool_name":"text2text","plugin_name":"chaos","parameters":{"mode":"ok"}}\n' "$i"
			printf '{"type":"task","task_id":"bad%s","tool_name":"text2text","plugin_name":"chaos","parameters":{"mode":"crash"}}\n' "$i"
		done
	} > tasks
	run --separate-stderr filmeto-run -j 2 -d out tasks
	[ "$status" -eq 1 ]
	echo "$output" > events
	[ "$(jget events 'sorted(l["task_id"] for l in by("completed"))')" = '["ok1", "ok2", "ok3"]' ]
	[ "$(jget events 'sorted(l["task_id"] for l in by("failed"))')" = '["bad1", "bad2", "bad3"]' ]
	no_leftovers
}
