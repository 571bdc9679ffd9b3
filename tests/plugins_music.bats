#!/usr/bin/env bats
# The bundled synth plugin (text2music): real pipelines, real WAV files,
# inspected with ffprobe and ffmpeg.

load test_helper

setup() {
	common_setup
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
}

# music ID PROMPT [KEY=VALUE...]: a synth task line on stdout.
music() {
	local id=$1 prompt=$2 p args=()
	shift 2
	for p in "$@"; do args+=(-p "$p"); done
	filmeto-submit -t text2music -P synth -i "$id" -p prompt="$prompt" "${args[@]}"
}

# meta EVENTS ID FIELD: a field of that task's result metadata.
meta() {
	jget "$1" "[l for l in by('completed') if l['task_id'] == '$2'][0]['metadata']['$3']"
}

# volume FILE FILTER max|mean: what volumedetect says after FILTER, in dB.
volume() {
	ffmpeg -hide_banner -nostats -i "$1" -af "$2volumedetect" -f null - 2>&1 |
		sed -n "s/.*$3_volume: \(-*[0-9.]*\) dB.*/\1/p"
}

@test "a prompt becomes a 6 s, 48 kHz, stereo pcm_s16le WAV" {
	music m 'slow calm piano' duration=6 | filmeto-run -d out > events
	wav=$(jget events 'by("completed")[0]["output_files"][0]')
	[ "$wav" = "$BATS_TEST_TMPDIR/out/m/music.wav" ]
	[ "$(jget events 'by("completed")[0]["output_resources"][0]["mime_type"]')" = audio/wav ]
	run ffprobe -v error -show_entries stream=codec_name,sample_rate,channels -of csv=p=0 "$wav"
	[ "$output" = "pcm_s16le,48000,2" ]
	d=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$wav")
	python3 -c "import sys; sys.exit(abs($d - 6) > 0.001)"
	[ "$(meta events m duration)" = 6.0 ]
	[ "$(jget events 'len(by("progress")) >= 2')" = true ]
	[ "$(jget events 'by("progress")[-1]["percent"]')" = 100.0 ]
	[ -z "$(find out -name '*.tmp')" ]
}

@test "the bed is audible, peaks near -6 dBFS and never clips" {
	music m 'a lighthouse at dusk' duration=6 | filmeto-run -d out > events
	max=$(volume out/m/music.wav '' max)
	mean=$(volume out/m/music.wav '' mean)
	python3 -c "import sys; sys.exit(not (-12 <= $max <= -0.1 and $mean > -40))"
}

@test "it fades in and out: the ends are quieter than the middle" {
	music m 'fast energetic chase' duration=6 | filmeto-run -d out > events
	first=$(volume out/m/music.wav 'atrim=0:0.1,' mean)
	middle=$(volume out/m/music.wav 'atrim=3:3.1,' mean)
	last=$(volume out/m/music.wav 'atrim=5.95:6,' mean)
	python3 -c "import sys; sys.exit(not ($first < $middle - 10 and $last < $middle - 10))"
}

@test "the same prompt gives the same bytes; another seed other music" {
	music a 'rain on a tin roof' duration=3 > task
	filmeto-run --no-cache -d one task > events1
	filmeto-run --no-cache -d two task > events2
	cmp one/a/music.wav two/a/music.wav
	[ "$(meta events1 a seed)" = "$(meta events2 a seed)" ]
	music a 'rain on a tin roof' duration=3 seed=7 | filmeto-run --no-cache -d three > events3
	[ "$(meta events3 a seed)" = 7 ]
	! cmp -s one/a/music.wav three/a/music.wav
}

@test "the words of the prompt set the tempo and the mode" {
	{
		music slow 'slow calm gentle waves' duration=1
		music fast 'fast energetic chase' duration=1
		music plain 'a lighthouse' duration=1
		music dark 'dark stormy night' duration=1
		music bright 'bright happy dawn' duration=1
	} | filmeto-run -d out > events
	slow=$(meta events slow tempo) fast=$(meta events fast tempo) plain=$(meta events plain tempo)
	[ "$slow" -ge 60 ] && [ "$slow" -le 75 ]
	[ "$fast" -ge 120 ] && [ "$fast" -le 140 ]
	[ "$plain" -ge 90 ] && [ "$plain" -le 100 ]
	[ "$(meta events dark mode)" = minor ]
	[ "$(meta events bright mode)" = major ]
	[[ "$(meta events dark key)" =~ ^[A-G][#b]?$ ]]
}

@test "tempo, key and mode overrides win over the prompt" {
	{
		music o 'slow calm' duration=1 tempo=150 key=Bb mode=minor
		music am 'bright happy dawn' duration=1 key=Am
	} | filmeto-run -d out > events
	[ "$(meta events o tempo)" = 150 ]
	[ "$(meta events o key)" = Bb ]
	[ "$(meta events o mode)" = minor ]
	[ "$(meta events am key)" = A ]
	[ "$(meta events am mode)" = minor ]
}

@test "a duration of 0 or -1 is refused at submit" {
	for d in 0 -1; do
		run --separate-stderr filmeto-submit -t text2music -P synth -p prompt=x -p duration=$d
		[ "$status" -eq 2 ]
		[ -z "$output" ]
		[[ "$stderr" == *"parameter 'duration'"*"(rule: min)"* ]]
	done
	run --separate-stderr filmeto-submit -t text2music -P synth -p prompt=x -p tempo=300 -p mode=loud
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"'tempo'"*"(rule: max)"* ]]
	[[ "$stderr" == *"'mode'"*"(rule: enum)"* ]]
}

@test "a key that is not a note fails the task with VALIDATION_ERROR" {
	music k x duration=1 key=H > task
	run filmeto-run -d out task
	[ "$status" -eq 1 ]
	echo "$output" > events
	[ "$(jget events 'by("failed")[0]["error"]["code"]')" = VALIDATION_ERROR ]
	[[ "$(jget events 'by("failed")[0]["error"]["message"]')" == *"'H'"* ]]
}

@test "SIGINT cancels an hour-long bed and leaves no file behind" {
	mkdir -p plugins/synth
	cp -R "$ROOT/plugins/synth/." plugins/synth/
	export FILMETO_PLUGIN_PATH="$BATS_TEST_TMPDIR/plugins"
	mkfifo in
	filmeto-run -d out < in > events &
	pid=$!
	exec {feed}> in
	music long 'an endless drone' duration=3600 >&"$feed"
	for _ in $(seq 100); do grep -q '"progress"' events && break; sleep 0.1; done
	grep -q '"progress"' events
	kill -INT "$pid"
	status=0
	wait "$pid" || status=$?
	exec {feed}>&-
	[ "$status" -eq 130 ]
	[ "$(jget events 'by("cancelled")[0]["task_id"]')" = long ]
	[ "$(jget events 'by("cancelled")[0]["error"]["code"]')" = TASK_CANCELLED ]
	[ "$(jget events 'len(by("completed"))')" = 0 ]
	no_plugins_left 3
	[ -z "$(find out -type f)" ]
}
