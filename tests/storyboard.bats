#!/usr/bin/env bats
# filmeto-submit beyond one task: storyboards, presets, config, --json,
# --each; every check before anything is emitted.

load test_helper

setup() {
	common_setup
	EX="$ROOT/share/filmeto/examples"
}

board() { cat > board.yaml; }

@test "a storyboard becomes the task DAG: image, clip and narration per scene, music, one combine" {
	filmeto-submit --storyboard "$EX/lighthouse.yaml" > tasks
	[ "$(wc -l < tasks)" -eq 11 ]
	# The plan comes first: the total, and which task makes the film.
	[ "$(head -c 15 tasks)" = '{"type":"plan",' ]
	[ "$(jget tasks 'lines[0]["tasks"]')" = 10 ]
	[ "$(jget tasks 'lines[0]["film_task_id"]')" = lighthouse-film ]
	[ "$(jget tasks '[l["task_id"] for l in by("task") if l["task_id"].startswith("lighthouse-dusk")]')" = '["lighthouse-dusk-image", "lighthouse-dusk-video", "lighthouse-dusk-narration"]' ]
	[ "$(jget tasks 'by("task")[2]["resources"][0]["data"]')" = lighthouse-dusk-image ]
	[ "$(jget tasks 'by("task")[2]["parameters"]["duration"]')" = 4.0 ]
	[ "$(jget tasks 'by("task")[-1]["tool_name"]')" = combine ]
	[ "$(jget tasks 'sorted(r["metadata"]["role"] for r in by("task")[-1]["resources"])')" = '["music", "narration", "narration", "video", "video", "video"]' ]
	[ "$(jget tasks '[s["transition"] for s in by("task")[-1]["parameters"]["scenes"]]')" = '["fade", "crossfade", "cut"]' ]
	# The music needs no scene: it comes first, so it is made while they are.
	[ "$(jget tasks 'by("task")[0]["tool_name"]')" = text2music ]
	[ "$(jget tasks 'by("task")[0]["parameters"]["duration"]')" = 13.0 ]
}

@test "the scene tasks of a storyboard run through filmeto-run" {
	# Without the film's combine task: a 13 s film took half the test's time
	# and proved nothing here (combine.bats renders storyboards whole).
	filmeto-submit --storyboard "$EX/lighthouse.yaml" | grep -v '"task_id":"lighthouse-film"' |
		filmeto-run -d out > events
	[ "$(jget events 'len([l for l in by("completed") if l["task_id"] != "lighthouse-film"])')" = 9 ]
	run ffprobe -v error -show_entries stream=width,height -of csv=p=0 out/lighthouse-storm-image/card.png
	[ "$output" = "1280,720" ]
}

@test "every storyboard problem at once, naming file, line, scene, field and rule; nothing emitted" {
	touch real.png
	board <<'EOF2'
size: wide
scenes:
  - prompt: ok
    transiton: fade
  - narration: no prompt here
  - prompt: x
    transition: wipe
    image: missing.png
  - prompt: y
    image: real.png
    duration: -1
EOF2
	run --separate-stderr filmeto-submit --storyboard board.yaml
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ "$stderr" == *"board.yaml:1: size: 'wide' is not WIDTHxHEIGHT"* ]]
	[[ "$stderr" == *"scene 1: unknown field 'transiton': did you mean 'transition'?"* ]]
	[[ "$stderr" == *"scene 2: prompt: required unless the scene gives image or video"* ]]
	[[ "$stderr" == *"scene 3: transition: 'wipe' is not one of cut, fade, crossfade"* ]]
	[[ "$stderr" == *"scene 3: image: 'missing.png' is not a readable file"* ]]
	[[ "$stderr" == *"scene 4: duration: -1 is outside"* ]]
	[ "$(grep -c 'rule:' <<< "$stderr")" -ge 6 ]
}

@test "a YAML error in a storyboard names the line" {
	printf 'scenes:\n  - prompt: [unclosed\n' > bad.yaml
	run filmeto-submit --storyboard bad.yaml
	[ "$status" -eq 2 ]
	[[ "$output" == *"bad.yaml:3:"* ]]
}

@test "scenes may bring their own media, relative to the storyboard" {
	mkdir media
	cp "$ROOT/tests/fixtures/bad-plugins/badyaml/plugin.yaml" media/clip.mp4
	touch media/still.png media/voice.wav
	board <<'EOF2'
id: own
scenes:
  - video: media/clip.mp4
    narration: ignored when audio is given
    audio: media/voice.wav
  - image: media/still.png
EOF2
	filmeto-submit --storyboard board.yaml > tasks
	[ "$(jget tasks '[l["task_id"] for l in by("task")]')" = '["own-scene2-video", "own-film"]' ]
	[ "$(jget tasks 'by("task")[0]["resources"][0]["data"]')" = "$BATS_TEST_TMPDIR/media/still.png" ]
	[ "$(jget tasks '[r["data"] for r in by("task")[1]["resources"]][:2]')" = "[\"$BATS_TEST_TMPDIR/media/clip.mp4\", \"$BATS_TEST_TMPDIR/media/voice.wav\"]" ]
}

@test "precedence: option beats storyboard beats config beats default, and --dry-run says which" {
	printf 'film: {width: 640, height: 360, fps: 12}\ndefaults: {text2image: titlecard}\n' > config.yaml
	export FILMETO_CONFIG="$BATS_TEST_TMPDIR/config.yaml"
	board <<'EOF2'
fps: 30
scenes:
  - prompt: a
EOF2
	run filmeto-submit --storyboard board.yaml --dry-run
	[ "$status" -eq 0 ]
	[[ "$output" == *"size         640x360          (config)"* ]]
	[[ "$output" == *"fps          30.0             (storyboard)"* ]]
	[[ "$output" == *"text2image   titlecard        (config)"* ]]
	run filmeto-submit --storyboard board.yaml --size 320x240 --fps 10 --dry-run
	[[ "$output" == *"size         320x240          (option)"* ]]
	[[ "$output" == *"fps          10.0             (option)"* ]]
	# A -p reaches every task whose tool takes it, and wins.
	filmeto-submit --storyboard board.yaml -p width=100 > tasks
	[ "$(jget tasks 'by("task")[0]["parameters"]["width"]')" = 100 ]
	[ "$(jget tasks 'by("task")[1]["parameters"]["width"]')" = 100 ]
	unset FILMETO_CONFIG
	run filmeto-submit --storyboard board.yaml --dry-run
	[[ "$output" == *"size         1280x720         (default)"* ]]
}

@test "a scene's plugins override the film's; an unknown one is reported" {
	board <<'EOF2'
plugins: {text2speak: fakemedia}
scenes:
  - prompt: a
    narration: hello
    plugins: {image2video: nosuch}
EOF2
	run --separate-stderr filmeto-submit --storyboard board.yaml
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"board-scene1-video"*"PLUGIN_NOT_FOUND"*"nosuch"* ]]
}

@test "config.yaml chooses the plugin for a tool; a broken config is an error" {
	mkdir -p "$XDG_CONFIG_HOME/filmeto"
	printf 'defaults:\n  text2text: chaos\n' > "$XDG_CONFIG_HOME/filmeto/config.yaml"
	filmeto-submit -t text2text -p mode=ok > line
	[ "$(jget line 'lines[0]["plugin_name"]')" = chaos ]
	echo '{"type":"task","task_id":"cfg","tool_name":"text2text","parameters":{"mode":"ok"}}' | filmeto-run -d out > events
	[ "$(jget events 'by("completed")[0]["metadata"]["plugin_name"]')" = chaos ]
	printf 'defaults: [oops\n' > "$XDG_CONFIG_HOME/filmeto/config.yaml"
	run filmeto-submit -t text2text -p text=x
	[ "$status" -eq 2 ]
	[[ "$output" == *"config.yaml:2:"* ]]
}

@test "presets: parameters and templates, explicit -p wins, user presets shadow shared ones" {
	filmeto-submit -t text2image --preset chapter -p prompt=One > line
	[ "$(jget line 'lines[0]["parameters"]["prompt"]')" = "Chapter: One" ]
	[ "$(jget line 'lines[0]["parameters"]["background2"]')" = "#8a4b16" ]
	filmeto-submit -t text2image --preset noir -p prompt=x -p color=red > line
	[ "$(jget line 'lines[0]["parameters"]["color"]')" = red ]
	[ "$(jget line 'lines[0]["parameters"]["background"]')" = "#000000" ]
	run filmeto-submit --list-presets
	[[ "$output" == *"noir"*"text2image"*"Film noir"* ]]
	[[ "$output" == *"chapter"* ]]
	filmeto-submit --list-presets=json > presets.json
	[ "$(jget presets.json '[p["tool"] for p in lines[0] if p["name"] == "noir"]')" = '["text2image"]' ]
	[ "$(jget presets.json 'all(p["path"].endswith("/" + p["name"] + ".yaml") for p in lines[0])')" = true ]
	run filmeto-submit --list-presets=xml
	[ "$status" -eq 2 ]
	mkdir -p "$XDG_CONFIG_HOME/filmeto/presets"
	printf 'description: mine\nparameters: {color: blue}\ntemplates: {prompt: "{prompt}!"}\n' > "$XDG_CONFIG_HOME/filmeto/presets/noir.yaml"
	filmeto-submit -t text2image --preset noir -p prompt=hey > line
	[ "$(jget line 'lines[0]["parameters"]')" = '{"prompt": "hey!", "color": "blue"}' ]
	run filmeto-submit -t text2image --preset nothere -p prompt=x
	[ "$status" -eq 2 ]
	[[ "$output" == *"no preset named 'nothere'"* ]]
	printf 'templates: {prompt: "{missing}"}\n' > "$XDG_CONFIG_HOME/filmeto/presets/bad.yaml"
	run filmeto-submit -t text2image --preset bad -p prompt=x
	[ "$status" -eq 2 ]
	[[ "$output" == *"no parameter 'missing'"* ]]
}

@test "--json: task objects by line or in an array, checked as a whole" {
	printf '%s\n' '{"task_id":"a","tool_name":"text2text","plugin_name":"pyfilmeto","parameters":{"text":"x"}}' \
		'{"task_id":"b","tool_name":"text2text","plugin_name":"pyfilmeto","parameters":{"text":"y"},"depends_on":["a"]}' > tasks.ndjson
	filmeto-submit --json tasks.ndjson > out
	[ "$(jget out '[l["task_id"] for l in by("task")]')" = '["a", "b"]' ]
	[ "$(jget out 'by("task")[0]["type"]')" = task ]
	python3 -c 'import json,sys; print(json.dumps([json.loads(l) for l in open("tasks.ndjson")]))' | filmeto-submit --json - > out2
	[ "$(wc -l < out2)" -eq 3 ]
	[ "$(jget out2 'lines[0]')" = '{"type": "plan", "tasks": 2}' ]
	printf '%s\n' '{"task_id":"c","tool_name":"text2text","plugin_name":"pyfilmeto","parameters":{"text":"x","repeat":0},"depends_on":["d"]}' \
		'{"task_id":"d","tool_name":"text2text","plugin_name":"pyfilmeto","parameters":{"text":"y"},"depends_on":["c"]}' \
		'{"task_id":"e","tool_name":"text2text","plugin_name":"pyfilmeto","parameters":{"text":"z"},"depends_on":["ghost"]}' \
		'{"task_id":"e","tool_name":"text2text","plugin_name":"pyfilmeto","parameters":{}}' > bad.ndjson
	run --separate-stderr filmeto-submit --json bad.ndjson
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ "$stderr" == *"parameter 'repeat': 0 is below min 1"* ]]
	[[ "$stderr" == *"dependency cycle"* ]]
	[[ "$stderr" == *"depends on task 'ghost', which is not in the plan"* ]]
	[[ "$stderr" == *"task 'e': the id is used twice"* ]]
	[[ "$stderr" == *"parameter 'text': is required but missing"* ]]
}

@test "--each turns every completed line into a task on its outputs, passing everything on" {
	filmeto-submit -t text2image -p prompt=one -p width=64 -p height=64 -i first \
		| filmeto-run -d out \
		| filmeto-submit --each -t text2text -P pyfilmeto -p text=x -p mode=resources \
		| filmeto-run -d out > events
	[ "$(jget events '[l["task_id"] for l in by("completed")]')" = '["first", "first-text2text"]' ]
	[ "$(cat out/first-text2text/out.txt)" = "$BATS_TEST_TMPDIR/out/first/card.png" ]
	run filmeto-submit --each -t text2text -P pyfilmeto -p mode=nonsense < /dev/null
	[ "$status" -eq 2 ]
}

@test "-p KEY=@FILE, --resource-base64 and --depends" {
	printf 'from a file\n' > prompt.txt
	printf 'bytes' > small.txt
	filmeto-submit -t text2text -P pyfilmeto -p text=@prompt.txt --resource-base64 small.txt --depends up -i t > line
	[ "$(jget line 'lines[0]["parameters"]["text"]')" = "from a file" ]
	[ "$(jget line 'lines[0]["resources"][0]["type"]')" = base64 ]
	[ "$(jget line 'lines[0]["resources"][0]["data"]')" = "$(printf bytes | base64)" ]
	[ "$(jget line 'lines[0]["depends_on"]')" = '["up"]' ]
	run filmeto-submit -t text2text -P pyfilmeto -p text=@nothere.txt
	[ "$status" -eq 2 ]
	[[ "$output" == *"nothere.txt"* ]]
	head -c 2000000 /dev/zero > big.bin
	run filmeto-submit -t text2text -P pyfilmeto -p text=x --resource-base64 big.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"larger than"* ]]
}

@test "--dry-run prints the plan and emits no task" {
	run --separate-stderr filmeto-submit -t text2image -p prompt=plan --dry-run
	[ "$status" -eq 0 ]
	[[ "$output" == *"plan: 1 task"* ]]
	[[ "$output" == *"prompt         = \"plan\" (option)"* ]]
	! grep -q '"type":"task"' <<< "$output"
}

@test "usage: one way to describe work at a time" {
	run filmeto-submit --storyboard a.yaml --json b
	[ "$status" -eq 2 ]
	run filmeto-submit --each
	[ "$status" -eq 2 ]
	run filmeto-submit --fps 0 --storyboard x.yaml
	[ "$status" -eq 2 ]
}

@test "an unreadable storyboard is status 1; options a mode would ignore are usage errors" {
	run filmeto-submit --storyboard nothere.yaml
	[ "$status" -eq 1 ]
	run filmeto-submit --json nothere.ndjson
	[ "$status" -eq 1 ]
	run filmeto-submit --storyboard "$EX/lighthouse.yaml" -i x
	[ "$status" -eq 2 ]
	run filmeto-submit --json - -p a=b < /dev/null
	[ "$status" -eq 2 ]
	run filmeto-submit -t text2image -p prompt=x --size 10x10
	[ "$status" -eq 2 ]
	echo '[{"task_id":"arr","tool_name":"text2image","parameters":{"prompt":"x"}}]' | filmeto-submit --json - > out
	[ "$(sed -n 2p out | head -c 16)" = '{"type":"task","' ]
}

@test "JSON surrogate pairs decode to their character in storyboards and task lines" {
	# U+1F3AC as JSON spells it, in a title, a prompt and a narration; a
	# key spelt with a pair is still an unknown key, named as the character.
	printf '%s\n' '{"id":"pairs","title":"\ud83c\udfac Take \uD83D\uDE00",' \
		'"scenes":[{"prompt":"a clapper \ud83c\udfac","narration":"caf\u00e9 \ud83c\udfac"},' \
		'{"prompt":"literal \\ud83c stays text"}]}' > film.json
	filmeto-submit --storyboard film.json > tasks
	[ "$(jget tasks 'by("task")[0]["parameters"]["prompt"]')" = "a clapper 🎬" ]
	[ "$(jget tasks '[l for l in by("task") if l["task_id"] == "pairs-scene1-narration"][0]["parameters"]["text"]')" = "café 🎬" ]
	[ "$(jget tasks 'by("task")[-1]["parameters"]["title"]')" = "🎬 Take 😀" ]
	[ "$(jget tasks '[l for l in by("task") if l["task_id"] == "pairs-scene2-image"][0]["parameters"]["prompt"]')" = 'literal \ud83c stays text' ]
	# Raw UTF-8 and the pair give the same bytes on the wire.
	grep -q '"prompt":"a clapper 🎬"' tasks
	printf '{"scenes":[{"prompt":"x","\\ud83c\\udfac":1}]}' > key.json
	run --separate-stderr filmeto-submit --storyboard key.json
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"unknown field '🎬'"* ]]
	# Task lines: --json and filmeto-run's input read pairs the same way.
	echo '{"task_id":"t","tool_name":"text2image","parameters":{"prompt":"\ud83c\udfac"}}' > t.ndjson
	filmeto-submit --json t.ndjson > line
	[ "$(jget line 'by("task")[0]["parameters"]["prompt"]')" = "🎬" ]
}

@test "half a surrogate pair is refused with the place and the escape, nothing emitted" {
	local bad
	for bad in '\ud83c' '\udfac' '\udfac\ud83c' '\ud83c\u0041' '\ud83cx\udfac' '\uDBFF"' ; do
		printf '{"scenes":[\n  {"prompt":"ok"},\n  {"prompt":"a %s b"}]}\n' "$bad" > lone.json
		run --separate-stderr filmeto-submit --storyboard lone.json
		[ "$status" -eq 2 ]
		[ -z "$output" ]
		[[ "$stderr" == *"lone.json:3:"*"' is half a UTF-16 surrogate pair"*"(rule: JSON escapes)"* ]]
		[[ "$stderr" != *"invalid Unicode character escape"* ]]
	done
	printf '{"task_id":"t","tool_name":"text2image","parameters":{"prompt":"\\ud83c"}}\n' > t.ndjson
	run --separate-stderr filmeto-submit --json t.ndjson
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"t.ndjson line 1: not valid JSON at byte 64: '\\ud83c' is half a UTF-16 surrogate pair"* ]]
	run --separate-stderr filmeto-run -d out < t.ndjson
	[ "$status" -eq 1 ]
	[[ "$output" == *'"code":"VALIDATION_ERROR","message":"input line 1: not valid JSON at byte 64: '"'"'\\ud83c'"'"' is half a UTF-16 surrogate pair"'* ]]
}

@test "a storyboard over the scene limit says the limit and the count, before making tasks" {
	python3 -c 'import json; print(json.dumps({"scenes": [{"prompt": "s%d" % i} for i in range(10000)]}))' > big.json
	run --separate-stderr filmeto-submit --storyboard big.json
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[ "$stderr" = "filmeto-submit: big.json:1: scenes: 10000 scenes, more than the limit of 1000 (rule: range)" ]
	python3 -c 'print("scenes:"); [print("  - prompt: s%d" % i) for i in range(1001)]' > over.yaml
	run --separate-stderr filmeto-submit --storyboard over.yaml
	[ "$status" -eq 2 ]
	[ "$stderr" = "filmeto-submit: over.yaml:2: scenes: 1001 scenes, more than the limit of 1000 (rule: range)" ]
	python3 -c 'print("scenes:"); [print("  - prompt: s%d" % i) for i in range(1000)]' > full.yaml
	filmeto-submit --storyboard full.yaml > tasks
	[ "$(jget tasks 'len(by("task")[-1]["parameters"]["scenes"])')" = 1000 ]
	# No scenes: one problem that says so, not a combine task of 0 scenes.
	local board msg
	for board in '{"scenes":[]}' '{"scenes":{}}' '{"title":"t"}'; do
		echo "$board" > none.json
		run --separate-stderr filmeto-submit --storyboard none.json
		[ "$status" -eq 2 ]
		[ "$(wc -l <<< "$stderr")" -eq 1 ]
		[[ "$stderr" == *"none.json:1: scenes: "* ]]
		[[ "$stderr" != *"not 0"* ]]
	done
	# An id over its limit says how long it would be.
	printf 'id: %s\nscenes:\n  - prompt: x\n    id: %s\n' "$(printf 'p%.0s' {1..70})" "$(printf 's%.0s' {1..100})" > long.yaml
	run --separate-stderr filmeto-submit --storyboard long.yaml
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"long.yaml:3: scene 1: id: 174 characters with the film's prefix '"*"-' and the suffix '-narration', more than the limit of 128 (rule: id)"* ]]
	head -c 1100000 /dev/zero | tr '\0' ' ' > huge.yaml
	run --separate-stderr filmeto-submit --storyboard huge.yaml
	[ "$status" -eq 2 ]
	[ "$stderr" = "filmeto-submit: 'huge.yaml' is 1100000 bytes, larger than the limit of 1048576 bytes" ]
}

@test "a title card keeps its words where the camera move will not crop them" {
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
	printf '%s\n' 'title: Safe' 'size: 640x360' 'scenes:' \
		'  - id: long' '    prompt: "Plugins render every scene at once, whatever the weather"' \
		'  - id: zoomy' '    prompt: "Zoomed"' '    parameters: {image2video: {zoom: 1.5}}' \
		'  - id: own' '    image: pic.png' > safe.yaml
	ffmpeg -v error -f lavfi -i color=black:s=64x36 -frames:v 1 -y pic.png
	filmeto-submit --storyboard safe.yaml > tasks
	# kenburns' zoom 1.2 panned edge to edge leaves the middle 2/1.2 - 1 of
	# the frame in every frame: the card keeps its text inside that.
	[ "$(jget tasks '[l["parameters"]["safe_area"] for l in by("task") if l["task_id"] == "safe-long-image"][0]')" = 0.69 ]
	[ "$(jget tasks '[l["parameters"]["safe_area"] for l in by("task") if l["task_id"] == "safe-zoomy-image"][0]')" = 0.32 ]
	[ "$(jget tasks 'len([l for l in by("task") if l["task_id"] == "safe-own-image"])')" = 0 ]
	# The card itself: on a plain black card, every lit pixel is inside.
	filmeto-submit -t text2image -i card -p style=plain -p background=black -p width=640 \
		-p height=360 -p safe_area=0.69 \
		-p prompt="Plugins render every scene at once, whatever the weather" | filmeto-run -d out > /dev/null
	python3 - out/card/card.png <<'PY'
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("L")
w, h = im.size
box = im.point(lambda v: 255 if v > 100 else 0).getbbox()
seen = 2 / 1.2 - 1
lo, hi = w * (1 - seen) / 2, w * (1 + seen) / 2
assert box and lo <= box[0] and box[2] <= hi, (box, lo, hi)
assert h * (1 - seen) / 2 <= box[1] and box[3] <= h * (1 + seen) / 2, (box, h)
PY
}
