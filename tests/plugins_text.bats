#!/usr/bin/env bats
# The bundled text plugins in real pipelines: espeak (text2speak) narrates
# into a WAV file made with libavformat; outline (text2text) turns a
# script into a storyboard that filmeto-submit takes.

load test_helper

setup() {
	common_setup
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
}

speak() { # ID TEXT [filmeto-submit options]
	local id=$1 text=$2
	shift 2
	filmeto-submit -t text2speak -P espeak -i "$id" -p text="$text" "$@"
}

# outline ID [filmeto-submit options]: runs outline, events into events.
outline() {
	local id=$1
	shift
	filmeto-submit -t text2text -P outline -i "$id" "$@" | filmeto-run -d out > events
}

# storyboard FILE: its task lines into tasks, with the test plugins serving
# what the two plugins under test do not (image2video, text2music).
storyboard() {
	FILMETO_PLUGIN_PATH="$ROOT/tests/plugins:$ROOT/plugins" filmeto-submit --storyboard "$1" > tasks
}

# scenes_are SCRIPT [MIN MAX]: the combine task in tasks has, per
# paragraph of SCRIPT (split at blank lines), its words joined by single
# spaces and the duration filmeto-submit estimates, clamped to MIN..MAX.
scenes_are() {
	python3 - "$1" "${2:-2}" "${3:-20}" <<'PY'
import json, math, re, sys
text = open(sys.argv[1], encoding="utf-8").read()
lo, hi = float(sys.argv[2]), float(sys.argv[3])
paras = [" ".join(p.split()) for p in re.split(r"\n[ \t]*\n", text) if p.split()]
want = [[p, min(hi, max(lo, math.ceil((len(p.split()) / 2.5 + 0.5) * 2) / 2))] for p in paras]
tasks = [json.loads(l) for l in open("tasks")]
got = [[s["text"], s["duration"]] for s in tasks[-1]["parameters"]["scenes"]]
if got != want:
    sys.exit("scenes\n  got  %s\n  want %s" % (got, want))
PY
}

four_paragraphs() {
	cat > script.txt <<-'EOF'
	Every evening, the keeper climbed the hundred steps of the lighthouse.
	He lit the lamp and watched the sea.

	That night the storm arrived, and the waves rose higher than anyone
	remembered.

	   By morning the sky was clear.   

	A ship had come home safely, guided by the light that never went out, and the
	keeper slept at last, long and deep, while the gulls circled the tower and the
	harbour woke to the bells of the small church on the hill above the town.
	EOF
}

@test "espeak speaks into a mono pcm_s16le WAV that grows with the text" {
	short='The keeper climbed the steps.'
	long="$short Then he lit the lamp, and watched the sea until the morning came."
	{ speak short "$short"; speak long "$long"; } | filmeto-run -j 1 -d out > events
	wav="$BATS_TEST_TMPDIR/out/short/speech.wav"
	run ffprobe -v error -show_entries stream=codec_name,channels,sample_rate -of csv=p=0 "$wav"
	[ "$output" = "pcm_s16le,22050,1" ]
	d1=$(duration "$wav")
	d2=$(duration out/long/speech.wav)
	holds events \
		'[l["task_id"] for l in by("completed")] == ["short", "long"]' \
		"by('completed')[0]['output_files'] == ['$wav']" \
		'by("completed")[0]["output_resources"][0]["type"] == "audio"' \
		'by("completed")[0]["output_resources"][0]["mime_type"] == "audio/wav"' \
		"0.5 < $d1 and $d1 * 1.5 < $d2" \
		"abs(by('completed')[0]['metadata']['duration'] - $d1) < 0.01" \
		'by("completed")[0]["metadata"]["sample_rate"] == 22050' \
		'len([p for p in by("progress") if p["task_id"] == "long" and p.get("stage") == "synthesize" and 0 < p["percent"] < 100]) >= 2'
	# the temporary file is gone
	[ "$(ls -A out/short)" = speech.wav ]
}

@test "espeak: rate, gap, pitch and voice are set task by task" {
	text='Every evening the keeper climbed the hundred steps of the old lighthouse.'
	{
		speak slow "$text" -p rate=100
		speak fast "$text" -p rate=300
		speak plain "$text"
		speak gaps "$text" -p gap=300
		speak german "$text" -p voice=de -p pitch=20
	} | filmeto-run -j 1 -d out > events
	slow=$(duration out/slow/speech.wav)
	fast=$(duration out/fast/speech.wav)
	plain=$(duration out/plain/speech.wav)
	gaps=$(duration out/gaps/speech.wav)
	# plain comes after rate=300 and is spoken at the default rate again;
	# gaps has eleven pauses between twelve words
	holds events \
		'len(by("completed")) == 5' \
		"$fast * 2 < $slow" \
		"$fast < $plain < $slow" \
		"$plain + 11 * 0.2 < $gaps" \
		'by("completed")[4]["metadata"]["voice"] == "de"'
}

@test "espeak: the speech is not silence" {
	speak loud 'Hello, and welcome to the lighthouse.' | filmeto-run -d out > events
	max=$(ffmpeg -nostdin -hide_banner -i out/loud/speech.wav -af volumedetect -f null - 2>&1 |
		sed -n 's/.*max_volume: \(-*[0-9.]*\) dB.*/\1/p')
	[ -n "$max" ]
	holds events "$max > -30"
}

@test "espeak: an unknown voice fails with VALIDATION_ERROR naming it" {
	{
		speak v1 'Hello.' -p voice=xx-nosuchvoice
		speak v2 'Hello.' -p voice='../../etc/passwd'
		speak v3 'Hello.'
	} | {
		run filmeto-run -j 1 -d out
		echo "$output" > events
		[ "$status" -eq 1 ]
	}
	# a bad voice leaves the plugin able to speak
	holds events \
		'[l["task_id"] for l in by("failed")] == ["v1", "v2"]' \
		'{l["error"]["code"] for l in by("failed")} == {"VALIDATION_ERROR"}' \
		"\"'xx-nosuchvoice'\" in by('failed')[0]['error']['message']" \
		"\"'../../etc/passwd'\" in by('failed')[1]['error']['message']" \
		'[l["task_id"] for l in by("completed")] == ["v3"]'
	[ ! -e out/v1/speech.wav ]
}

@test "espeak: no text, empty text and blank text are refused" {
	run filmeto-submit -t text2speak -P espeak -p voice=en
	[ "$status" -eq 2 ]
	[[ "$output" == *"'text'"* ]]
	{ speak e1 ''; speak e2 $' \t\n '; } | {
		run filmeto-run -d out
		echo "$output" > events
		[ "$status" -eq 1 ]
	}
	holds events \
		'[l["error"]["code"] for l in by("failed")] == ["VALIDATION_ERROR"] * 2' \
		'all("nothing to say" in l["error"]["message"] for l in by("failed"))'
	[ ! -e out/e1/speech.wav ]
}

@test "espeak: a cancel line stops a long synthesis; the next task still runs" {
	python3 -c 'print(" ".join(["The keeper climbed the hundred steps of the lighthouse."] * 1100)[:65000])' > long.txt
	mkfifo in
	filmeto-run -j 1 -d out < in > events &
	pid=$!
	exec {feed}> in
	filmeto-submit -t text2speak -P espeak -i long -p text=@long.txt >&"$feed"
	for _ in $(seq 100); do grep -q '"progress".*characters' events && break; sleep 0.05; done
	echo '{"type":"cancel","task_id":"long"}' >&"$feed"
	speak after 'Still here.' >&"$feed"
	exec {feed}>&-
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq 1 ]
	holds events \
		'[l["task_id"] for l in by("cancelled")] == ["long"]' \
		'[l["task_id"] for l in by("completed")] == ["after"]'
	# nothing half-written is left behind
	[ -z "$(ls -A out/long 2>/dev/null)" ]
}

@test "outline: four paragraphs become a storyboard of four scenes filmeto-submit takes" {
	four_paragraphs
	outline plan -p text=@script.txt
	sb="$BATS_TEST_TMPDIR/out/plan/storyboard.yaml"
	FILMETO_PLUGIN_PATH="$ROOT/tests/plugins:$ROOT/plugins" run filmeto-submit --storyboard "$sb" --dry-run
	[ "$status" -eq 0 ]
	[[ "$output" == *'title          = "Untitled"'* ]]
	storyboard "$sb"
	scenes_are script.txt
	# each scene's prompt is its first sentence; the metadata adds up
	holds tasks \
		'[t["parameters"]["prompt"] for t in by("task") if t["tool_name"] == "text2image"][1] == "That night the storm arrived, and the waves rose higher than anyone remembered."' \
		'[t["parameters"]["text"] for t in by("task") if t["tool_name"] == "text2speak"][2] == "By morning the sky was clear."'
	total=$(python3 -c 'import json; print(sum(s["duration"] for s in json.loads(open("tasks").readlines()[-1])["parameters"]["scenes"]))')
	holds events \
		"by('completed')[0]['output_files'] == ['$sb']" \
		'by("completed")[0]["output_resources"][0]["mime_type"] == "application/yaml"' \
		'by("completed")[0]["metadata"]["scenes"] == 4' \
		"by('completed')[0]['metadata']['duration'] == $total"
}

@test "outline: quotes, colons, #, dashes, YAML words and unicode survive the round trip" {
	cat > script.txt <<-'EOF'
	"Hold fast," she said: 'the light is ours.' # not a comment.

	- a leading dash, like a list item: {braces}, [brackets] & *stars !bang %percent @at

	true

	null

	key: value # still text, | and > too

	Ünïcödé — 灯台の光 🎬 and a	tab; "nested 'quotes' here"\ and a backslash.

	--- not a document marker ...

	? question mark key
	EOF
	outline odd -p text=@script.txt
	holds events 'by("completed")[0]["metadata"]["scenes"] == 8'
	storyboard out/odd/storyboard.yaml
	scenes_are script.txt
	holds tasks \
		'[t["parameters"]["prompt"] for t in by("task") if t["tool_name"] == "text2image"][2] == "true"' \
		'[t["parameters"]["text"] for t in by("task") if t["tool_name"] == "text2speak"][3] == "null"'
}

@test "outline: a script file resource, a heading as the title, and a title parameter" {
	cat > story.txt <<-'EOF'
	# The Lighthouse

	Every evening the keeper climbed the steps.

	That night the storm arrived.
	EOF
	outline res -r story.txt
	storyboard out/res/storyboard.yaml
	holds tasks \
		'by("task")[-1]["task_id"] == "the-lighthouse-film"' \
		'by("task")[-1]["parameters"]["title"] == "The Lighthouse"' \
		'[s["text"] for s in by("task")[-1]["parameters"]["scenes"]] == ["Every evening the keeper climbed the steps.", "That night the storm arrived."]'
	outline titled -r story.txt -p title='Keeper: a "story"'
	grep -qx "title: 'Keeper: a \"story\"'" out/titled/storyboard.yaml
	grep -qx 'id: keeper-a-story' out/titled/storyboard.yaml
}

@test "outline: transition, size, fps, durations and music reach the storyboard" {
	four_paragraphs
	outline opts -p text=@script.txt -p transition=crossfade -p size=640x360 -p fps=24 \
		-p min_duration=3 -p max_duration=5
	FILMETO_PLUGIN_PATH="$ROOT/tests/plugins:$ROOT/plugins" run filmeto-submit --storyboard out/opts/storyboard.yaml --dry-run
	[ "$status" -eq 0 ]
	[[ "$output" == *"size         640x360          (storyboard)"* ]]
	[[ "$output" == *"fps          24.0             (storyboard)"* ]]
	storyboard out/opts/storyboard.yaml
	scenes_are script.txt 3 5
	# music from the mood words: calm here (evening, sea), tense for a storm
	holds tasks \
		'[s["transition"] for s in by("task")[-1]["parameters"]["scenes"]] == ["fade", "crossfade", "crossfade", "crossfade"]' \
		'[t["parameters"]["prompt"] for t in by("task") if t["tool_name"] == "text2music"] == ["calm piano"]'
	printf 'The storm came in the dark night.\n\nFear and shadow and cold.\n' > storm.txt
	outline storm -p text=@storm.txt
	grep -qx "music: 'tense strings'" out/storm/storyboard.yaml
	outline quiet -p text=@storm.txt -p music=none
	run grep -c '^music:' out/quiet/storyboard.yaml
	[ "$output" = 0 ]
	run outline badsize -p text=x -p size=64
	[ "$status" -eq 1 ]
	holds events "\"'64' is not WIDTHxHEIGHT\" in by('failed')[0]['error']['message']"
}

@test "outline: 1000 paragraphs make 1000 scenes; 1001 fail with VALIDATION_ERROR" {
	python3 -c 'print("\n\n".join("Scene number %d." % i for i in range(1000)))' > many.txt
	outline many -r many.txt
	holds events 'by("completed")[0]["metadata"]["scenes"] == 1000'
	printf '\nOne more.\n' >> many.txt
	run outline toomany -r many.txt
	[ "$status" -eq 1 ]
	holds events \
		'by("failed")[0]["error"]["code"] == "VALIDATION_ERROR"' \
		'"more than 1000 paragraphs" in by("failed")[0]["error"]["message"]'
	[ ! -e out/toomany/storyboard.yaml ]
}

@test "outline: no words, invalid UTF-8, or not one text script fail with VALIDATION_ERROR" {
	printf ' \n\n\t\n' > blank.txt
	printf 'Bad \xff byte.\n' > bad.txt
	echo 'Fine.' > fine.txt
	echo 'not a picture' > pic.png
	{
		filmeto-submit -t text2text -P outline -i blank -r blank.txt
		filmeto-submit -t text2text -P outline -i bad -r bad.txt
		filmeto-submit -t text2text -P outline -i both -r fine.txt -p text=Hi
		filmeto-submit -t text2text -P outline -i none
		filmeto-submit -t text2text -P outline -i image -r pic.png
	} | {
		run filmeto-run -d out
		echo "$output" > events
		[ "$status" -eq 1 ]
	}
	holds events \
		'sorted(l["task_id"] for l in by("failed")) == ["bad", "blank", "both", "image", "none"]' \
		'{l["error"]["code"] for l in by("failed")} == {"VALIDATION_ERROR"}' \
		'"no words" in one("failed", "blank")["error"]["message"]' \
		'"not UTF-8 text (byte 4)" in one("failed", "bad")["error"]["message"]'
}
