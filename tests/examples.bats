#!/usr/bin/env bats
# The examples under share/filmeto/examples that are not the spool's
# (spool_docs.bats) nor the batch Makefile's (batch.bats): the shell of
# render-ci.yml's job is taken from the file itself, so it cannot rot.

load test_helper

EXAMPLES="$ROOT/share/filmeto/examples"

setup() {
	common_setup
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
}

@test "images-from-lines: one image per line, named by line, blank lines skipped" {
	printf '%s\n' 'A lighthouse at dusk' '' 'Quotes "and" 100% colons: kept' > prompts.txt
	printf 'no newline at the end' >> prompts.txt
	run --separate-stderr "$EXAMPLES/images-from-lines" prompts.txt shots
	[ "$status" -eq 0 ]
	[ -s shots/line-1/card.png ] && [ -s shots/line-3/card.png ] && [ -s shots/line-4/card.png ]
	[ ! -e shots/line-2 ]
	[ "$(jget shots/events.ndjson 'sorted(l["task_id"] for l in by("completed"))')" = \
		'["line-1", "line-3", "line-4"]' ]
	# An empty list is said, not taken for success.
	: > none.txt
	run --separate-stderr "$EXAMPLES/images-from-lines" none.txt empty
	[ "$status" -eq 4 ]
	[[ "$stderr" == *"no tasks in the stream"* ]]
}

@test "render-ci.yml: the render step makes the film, a JUnit report and the summary; a refused storyboard fails the job" {
	mkdir films
	printf '%s\n' 'title: Trailer' 'size: 160x90' 'fps: 12' 'scenes:' \
		'  - prompt: "One"' '    duration: 1' '  - prompt: "Two"' '    duration: 1' > films/trailer.yaml
	export STORYBOARD=films/trailer.yaml
	run bash -e -c "$(ci_steps "$EXAMPLES/render-ci.yml" render)"
	[ "$status" -eq 0 ]
	[ "$(probe out/film.mp4 stream=codec_name v:0)" = h264 ]
	[ -s out/film-contact.png ]
	python3 - out/report.xml <<'PY'
import sys, xml.etree.ElementTree as ET
cases = ET.parse(sys.argv[1]).getroot().iter("testcase")
names = sorted(c.get("name") for c in cases)
assert "trailer-film" in names and len(names) == 5, names
PY
	[ "$(jget out/summary.json 'lines[0]["failed"]')" = 0 ]
	grep -q '"task_id":"trailer-film"' out/events.ndjson
	# A storyboard filmeto refuses: the step fails, and says why.
	printf 'title: Broken\nscenes:\n  - prompt: x\n    duraton: 1\n' > films/trailer.yaml
	rm -rf out
	run bash -e -c "$(ci_steps "$EXAMPLES/render-ci.yml" render)"
	[ "$status" -ne 0 ]
	[[ "$output" == *"unknown field 'duraton'"* ]]
}

@test "slurm/config.yaml: filmeto takes it as config.yaml, and a local run ignores its slurm: section" {
	export FILMETO_CONFIG="$EXAMPLES/slurm/config.yaml"
	run --separate-stderr filmeto-submit -t text2image -p prompt=cluster -p width=64 -p height=64 -i card
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" > card.ndjson
	run --separate-stderr filmeto-run -d out card.ndjson
	[ "$status" -eq 0 ]
	[ -s out/card/card.png ]
	# Every key of its slurm: section is one the executor reads.
	python3 - "$FILMETO_CONFIG" <<'PY'
import sys, yaml
s = yaml.safe_load(open(sys.argv[1]))["slurm"]
level = {"partition", "account", "qos", "sbatch_args"}
assert set(s) <= level | {"poll", "plugins"}, set(s)
assert all(set(p) <= level for p in s["plugins"].values()), s["plugins"]
assert all(isinstance(a, str) for a in s["sbatch_args"])
PY
}
