#!/usr/bin/env bats
# The JSON Schemas of share/filmeto/schemas against what the commands
# really write: every line of a small storyboard's render (with a failed
# and a cancelled task) from filmeto-submit through filmeto-run, the
# summary and the spool's status and listing from filmeto-watch, every
# storyboard and manifest in the tree that filmeto accepts; and lines
# that break a rule, which the schemas must refuse. Validator: Debian's
# python3-jsonschema, through tests/schema_check.py.

load test_helper

setup() {
	common_setup
	SCHEMAS="$ROOT/share/filmeto/schemas"
}

# check ARGS...: tests/schema_check.py over the schemas: -s SCHEMA, a mode
# (--lines, --json, --yaml), --holds or --refused, then FILEs.
check() {
	python3 "$ROOT/tests/schema_check.py" "$SCHEMAS" "$@"
}

@test "every line of a storyboard's render holds: submit's plan and tasks, run's events and final lines, watch's summary" {
	export FILMETO_PLUGIN_PATH="$ROOT/plugins:$ROOT/tests/plugins"
	cat >sb.yaml <<'YAML'
title: Schemas
size: 160x90
fps: 10
scenes:
  - id: one
    prompt: "One"
    narration: "Hi."
    duration: 1
YAML
	filmeto-submit --storyboard sb.yaml >tasks
	# Lines by hand for what submit refuses: a task whose plugin is not
	# there, one that waits for it, and one cancelled before it starts.
	{
		task bad nosuch text2text '{"text":"x"}'
		task after titlecard text2image '{"prompt":"x"}' ',"depends_on":["bad"]'
		task slow titlecard text2image '{"prompt":"x"}'
		echo '{"type":"cancel","task_id":"slow"}'
		# One that runs past --heartbeat on any machine: the storyboard's
		# tasks can all end within 0.2 s, and then no heartbeat is written.
		task hang chaos text2text '{"mode":"hang"}' ',"timeout":1'
	} >>tasks
	run -1 --separate-stderr filmeto-run -o film.mp4 -d out --heartbeat 0.2 --grace 1 <tasks
	echo "$output" >events
	run -1 filmeto-watch --summary-json summary.json <events
	holds tasks 'lines[0] == {"type": "plan", "tasks": 4, "film_task_id": "sb-film"}'
	holds events 'by("plan") == [{"type": "plan", "tasks": 4, "film_task_id": "sb-film"}]' \
		'len(by("started")) == 6' 'by("heartbeat")' 'by("progress")' 'by("log")' \
		'one("completed", "sb-film")' 'one("failed", "bad")["error"]["code"] == "PLUGIN_NOT_FOUND"' \
		'one("failed", "after")["error"]["code"] == "DEPENDENCY_FAILED"' 'one("cancelled", "slow")' \
		'one("failed", "hang")["error"]["code"] == "TIMEOUT_ERROR"'
	grep '"type":"task"' tasks >task-lines
	grep -E '"type":"(started|progress|heartbeat|log)"' events >event-lines
	grep -E '"type":"(completed|failed|cancelled)"' events >final-lines
	grep '"type":"plan"' tasks >plan-lines
	check -s line.schema.json --lines tasks events -s task.schema.json task-lines \
		-s plan.schema.json plan-lines \
		-s event.schema.json event-lines -s final.schema.json final-lines \
		-s summary.schema.json --json summary.json
}

@test "a --json plan holds; filmeto-watch --status and --list --json hold for queued, done and cancelled tasks" {
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
	{
		task q1 titlecard text2image '{"prompt":"x","width":64,"height":64}'
		task q2 titlecard text2image '{"prompt":"y","width":64,"height":64}'
	} >queue.json
	# Printed, a --json plan's first line has no film: it has no combine task.
	filmeto-submit --json queue.json >printed
	holds printed 'lines[0] == {"type": "plan", "tasks": 2}'
	filmeto-submit --queue --json queue.json
	filmeto-submit --cancel q2
	run -3 --separate-stderr filmeto-watch --status q1
	echo "$output" >status
	filmeto-run --spool --drain
	filmeto-watch --status q1 >>status
	run -1 --separate-stderr filmeto-watch --status q2
	echo "$output" >>status
	filmeto-watch --list --json >list.json
	holds status '[l["state"] for l in lines] == ["queued", "done", "cancelled"]' \
		'lines[1]["result"]["type"] == "completed"'
	check -s status.schema.json --lines status -s line.schema.json status printed \
		-s list.schema.json --json list.json
}

@test "every storyboard filmeto accepts holds, and those it refuses for a rule the schema has do not" {
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
	corpus="$ROOT/tests/fuzz/corpus/fuzz_storyboard"
	# Unknown keys (the film's, a scene's), a bad transition, fps and scene
	# id, a scene with nothing to show.
	printf '%s\n' 'title: Typo' 'scene:' '  - prompt: a' 'scenes:' '  - prompt: b' >"$PWD/typo.yaml"
	refuse=("$PWD/typo.yaml" "$corpus/surrogates.json" "$corpus/problems.yaml" "$corpus/music.yaml")
	find "$ROOT/share/filmeto/examples" "$ROOT/tests/fixtures" -name '*.yaml' -o -name '*.yml' \
		-o -name '*.json' | xargs grep -lE '^scenes:|"scenes"' >candidates
	printf '%s\n' "$corpus/json.json" "${refuse[@]}" >>candidates
	# What filmeto-submit says of each, at once: each start links libav*.
	xargs -P 8 -I{} sh -c \
		'filmeto-submit --storyboard "$1" --dry-run >/dev/null 2>&1 && echo "$1" >>accepted; true' \
		sh {} <candidates
	grep -q examples/hello.yaml accepted
	grep -q examples/lighthouse.yaml accepted
	grep -q corpus/fuzz_storyboard/json.json accepted
	for f in "${refuse[@]}"; do
		run ! grep -qx "$f" accepted
	done
	mapfile -t good <accepted
	run check -s storyboard.schema.json --yaml "${good[@]}" --refused "${refuse[@]}"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"typo.yaml:1: (top): Additional properties are not allowed ('scene' was unexpected)"* ]]
	[[ "$output" == *"surrogates.json:1: scenes/1: Additional properties are not allowed"* ]]
}

@test "every plugin manifest filmeto accepts holds, and those it refuses do not" {
	export FILMETO_PLUGIN_PATH="$ROOT/plugins:$ROOT/tests/plugins:$ROOT/tests/upstream:$ROOT/tests/fixtures/bad-plugins:$ROOT/tests/fixtures/upstream_tree/server/plugins"
	# list reports the broken ones on stderr and lists the rest.
	filmeto-plugin list --json 2>/dev/null >plugins.json
	jfile plugins.json '"\n".join(sorted(p["manifest"] for p in d))' >accepted
	[ "$(wc -l <accepted)" -ge 25 ]
	grep -q plugins/titlecard/plugin.yaml accepted
	grep -q tests/plugins/pyfilmeto/plugin.yml accepted
	find "$ROOT/plugins" "$ROOT/tests" -name 'plugin.yaml' -o -name 'plugin.yml' | sort >all
	mapfile -t good <accepted
	mapfile -t bad < <(comm -23 all accepted)
	[ "${#bad[@]}" -ge 2 ]
	check -s manifest.schema.json --yaml "${good[@]}" --refused "${bad[@]}"
}

@test "the schemas are draft 2020-12 with \$id; lines that break a rule are refused, unknown fields and types pass" {
	[ "$(ls "$SCHEMAS"/*.schema.json | wc -l)" -ge 10 ]
	{
		ev started t ',"attempt":1,"plugin_name":"p","tool_name":"text2text"'
		ev mystery t
		ev log t ',"level":"info","message":"m","extra":{"any":1}'
		echo '{"type":"plan","tasks":3,"film_task_id":"f-film"}'
		echo '{"type":"plan","tasks":1}'
		echo '{"type":"cancel","task_id":"t"}'
	} >ok
	grep '"plan"' ok >plans
	{
		# A line missing task_id.
		echo '{"type":"started","timestamp":"2026-11-21T10:00:00.000Z","attempt":1,"plugin_name":"p","tool_name":"t"}'
		ev progress t ',"attempt":1,"percent":150'
		ev failed t ',"status":"error","output_files":[],"output_resources":[],"execution_time":1,"metadata":{}'
		ev failed t ',"status":"error","output_files":[],"output_resources":[],"error":{"code":"OOPS","message":"m"},"execution_time":1,"metadata":{}'
		ev completed t ',"status":"success","output_files":[],"output_resources":[],"execution_time":NaN,"metadata":{}'
		echo '{"type":"task","task_id":".hidden","tool_name":"text2text"}'
		echo '{"type":"plan","tasks":-1}'
		echo '{"type":"cancel"}'
		echo '{"type":"status","task_id":"q","timestamp":"2026-11-21T10:00:00.000Z","state":"lost","queued_at":"2026-11-21T10:00:00.000Z","attempts":0,"result":null,"log":"l"}'
	} >bad
	run check --schemas -s line.schema.json --lines ok --refused bad -s plan.schema.json --holds plans
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^refused bad:' <<<"$output")" -eq 9 ]
	[[ "$output" == *"refused bad:1: (top): 'task_id' is a required property"* ]]
	[[ "$output" == *"refused bad:3: (top): 'error' is a required property"* ]]
	[[ "$output" == *"refused bad:5: NaN is not JSON"* ]]
}
