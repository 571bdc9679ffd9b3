#!/usr/bin/env bats
# A file size limit (ulimit -f) or a full disk makes writes fail: every
# binary and bundled plugin reports it as an error and removes its
# temporary files, instead of dying by SIGXFSZ in mid-write and leaving
# them behind.

load test_helper

setup() {
	common_setup
	ffmpeg -v error -f lavfi -i testsrc=size=640x360 -frames:v 1 still.png
}

# limited BLOCKS COMMAND...: COMMAND under ulimit -f BLOCKS (KiB); its
# stdout and stderr go through a pipe, which the limit does not bound.
limited() {
	local blocks=$1
	shift
	(ulimit -f "$blocks" && "$@") 2>&1 | cat
	return "${PIPESTATUS[0]}"
}

# No temporary file anywhere under the scratch space.
no_temporaries() {
	run find . \( -name '.*.tmp' -o -name '*.part' -o -name '.tmp*' \) -print
	[ -z "$output" ]
}

@test "bundled plugins past the file size limit: a write error, no temporary left" {
	cat > board.yaml <<'EOF'
plugins: {text2image: titlecard, image2video: kenburns, text2speak: espeak, text2music: synth}
scenes:
  - prompt: a card too big to write
    narration: a narration long enough to need more than the few kilobytes allowed here
  - image: still.png
    duration: 4
music: a music bed
EOF
	filmeto-submit --storyboard board.yaml > tasks
	run limited 24 filmeto-run -d out < tasks
	[ "$status" -eq 1 ]
	echo "$output" | grep '^{' > events
	# Each plugin that writes a file fails with EFBIG's own words.
	local id
	for id in board-scene1-image board-scene1-narration board-scene2-video board-music; do
		jget events "[l for l in by('failed') if l['task_id'] == '$id'][0]['error']['message']" | grep 'File too large'
	done
	[[ "$output" != *"signal 25"* ]]
	[[ "$output" != *"File size limit exceeded"* ]]
	no_temporaries
}

@test "filmeto-watch past the file size limit: the summary files say why, none is left half" {
	echo '{"type":"completed","task_id":"a"}' > in
	run limited 0 filmeto-watch --summary-json sum.json --junit junit.xml in
	[ "$status" -eq 1 ]
	[[ "$output" == *"1 task: 1 completed"* ]]
	[[ "$output" == *"cannot write 'sum.json': File too large: the file size limit (ulimit -f) is 0 bytes"* ]]
	[[ "$output" == *"cannot write 'junit.xml': File too large"* ]]
	[ ! -e sum.json ] && [ ! -e junit.xml ]
	no_temporaries
}

@test "filmeto-run past the file size limit keeps going and says so" {
	# Its own output file is over the limit: the error is a write error.
	filmeto-submit -t text2image -p prompt=x -p width=64 -p height=64 -i small > task
	run limited 1 sh -c 'filmeto-run -d out < task > events.ndjson; echo "status $?"'
	[[ "$output" == *"status 1"* ]]
	[[ "$output" == *"cannot write to standard output"*"File too large"* ]]
	no_temporaries
}

@test "filmeto-run on a full disk: the lost events said once, status 1" {
	{ filmeto-submit -t text2image -p prompt=x -p width=64 -p height=64 -i a
	  filmeto-submit -t text2image -p prompt=y -p width=64 -p height=64 -i b; } > tasks
	run --separate-stderr bash -c 'filmeto-run -d out < tasks > /dev/full'
	[ "$status" -eq 1 ]
	[ "$stderr" = 'filmeto-run: cannot write to standard output: No space left on device' ]
	no_temporaries
}

@test "combine past the file size limit: the write error, not a cancel, and nothing left beside -o" {
	cat > board.yaml <<'EOF2'
plugins: {text2image: titlecard, image2video: kenburns, text2speak: espeak}
scenes:
  - prompt: first
    narration: hello there
    duration: 2
  - prompt: second
    duration: 2
EOF2
	# The scenes first, without a limit; then the film, under one.
	filmeto-submit --storyboard board.yaml | filmeto-run -d out > /dev/null
	filmeto-submit --storyboard board.yaml > tasks
	run limited 200 filmeto-run -d out -o film.mp4 < tasks
	[ "$status" -eq 1 ]
	echo "$output" | grep '^{' > events
	jget events "[l for l in by('failed') if l['task_id'] == 'board-film'][0]['error']['message']" | grep 'File too large'
	[[ "$output" != *"cancelled"* ]]
	[[ "$output" != *"signal 25"* ]]
	# No film, and none of its sidecars half made.
	run ls
	[[ "$output" != *film* ]]
	[ -z "$(find . -name '.filmeto-*')" ]
	no_temporaries
}
