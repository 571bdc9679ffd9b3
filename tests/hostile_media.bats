#!/usr/bin/env bats
# Hostile and unlucky inputs to the media side of filmeto-run: text that
# reaches a filter graph, films without any sound, narrations that look
# like subtitle syntax, frames too large to decode, and a combine that
# crashes. Real clips made by ffmpeg, the real binaries and plugins.

load test_helper

setup_file() {
	local d="$BATS_FILE_TMPDIR"
	ffmpeg -v error -y -f lavfi -i "testsrc2=s=320x180:r=25:d=1" \
		-f lavfi -i "sine=f=330:r=48000:d=1" -map 0:v -map 1:a -c:v libx264 \
		-preset ultrafast -pix_fmt yuv420p -g 25 -c:a aac -shortest "$d/sound.mp4"
	ffmpeg -v error -y -f lavfi -i "testsrc2=s=320x180:r=25:d=1" -c:v libx264 \
		-preset ultrafast -pix_fmt yuv420p -g 25 "$d/mute.mp4"
	ffmpeg -v error -y -f lavfi -i "anullsrc=r=48000:cl=mono:d=1" "$d/hush.wav"
	# Frames too large to decode: a clip whose headers say 16400 wide, and
	# a 16000x16000 still (250 KB) whose size only decoding tells.
	ffmpeg -v error -y -f lavfi -i "color=c=red:s=16400x16:r=25:d=0.12" -c:v mjpeg \
		-pix_fmt yuvj420p "$d/wide.mkv"
	bigpng 16000 16000 "$d/huge.png"
	bigpng 6000 4000 "$d/photo.png"
}

# bigpng W H FILE: a grey PNG of W x H pixels, written without decoding
# anything that large (ffmpeg would need the frame in memory).
bigpng() {
	python3 - "$@" <<'PY'
import struct, sys, zlib
w, h, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def chunk(t, data):
    c = struct.pack(">I", len(data)) + t + data
    return c + struct.pack(">I", zlib.crc32(t + data) & 0xffffffff)
z = zlib.compressobj(9)
row = b"\0" * (w + 1)
body = b"".join(z.compress(row) for _ in range(h)) + z.flush()
with open(path, "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", body) + chunk(b"IEND", b""))
PY
}

setup() {
	common_setup
	M="$BATS_FILE_TMPDIR"
}

teardown() {
	# a filmeto-run this test left in the background, and only that one
	if [ -n "${pid:-}" ]; then
		kill "$pid" 2>/dev/null || true
	fi
	stop_fakes
}

# combine_task ID JSON_SCENES [JSON_PARAMS]: a combine task line over
# scenes given as JSON, each {"id", "file" or "failed"[, "title", "text",
# "narration"]}; "failed" names a task whose output the scene waits for
# (see fail_task).
combine_task() {
	python3 - "$@" <<'PY'
import json, sys
tid, scenes = sys.argv[1], json.loads(sys.argv[2])
params = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
res, out = [], []
for s in scenes:
    e = {"id": s["id"], "duration": 1}
    for k in ("title", "text"):
        if k in s:
            e[k] = s[k]
    out.append(e)
    meta = {"scene": s["id"], "role": "video"}
    if "failed" in s:
        res.append({"type": "task_output", "data": s["failed"], "metadata": meta})
    else:
        res.append({"type": "local_path", "data": s["file"], "metadata": meta})
    if "narration" in s:
        res.append({"type": "local_path", "data": s["narration"],
                    "metadata": {"scene": s["id"], "role": "narration"}})
p = {"width": 320, "height": 180, "fps": 25, "scenes": out}
p.update(params)
print(json.dumps({"type": "task", "task_id": tid, "tool_name": "combine",
                  "parameters": p, "resources": res}))
PY
}

# fail_task ID: a task line that fails (the chaos test plugin).
fail_task() {
	echo '{"type":"task","task_id":"'"$1"'","tool_name":"text2text","plugin_name":"chaos","parameters":{"mode":"fail"}}'
}

# The hostile texts, as JSON strings: controls, lone combining marks,
# drawtext's %{...} expansion, and every character a graph or an option
# value treats as structure.
HOSTILE='["tab\there", "\u0001\u0007\r\u001b\u007f", "cr\rlf\r\nnl\n", "\u000b\u000c\u0085\u2028",
 "\u0301\u0301 lone marks", "%{pts}", "%{eif:1/0:d}", "%{localtime}", "it'"'"'s", "back\\\\slash",
 "a:b=c", "semi;colon", "[label]", "comma,here", "\ud83c\udfac\u200f\ufeff\uffff", "\t"]'

@test "titles with controls, %{...} and graph syntax reach the contact sheet and cards safely" {
	# One scene per hostile title; the even ones failed and become placeholder cards.
	python3 - "$M/sound.mp4" "$HOSTILE" >scenes.json <<'PY'
import json, sys
titles = json.loads(sys.argv[2])
scenes = []
for i, t in enumerate(titles):
    s = {"id": "s%d" % i, "title": t}
    if i % 2:
        s["file"] = sys.argv[1]
    else:
        s["failed"] = "gone"
    scenes.append(s)
print(json.dumps(scenes))
PY
	{
		fail_task gone
		combine_task film "$(cat scenes.json)" '{"title": "The\tfilm\u0001\r\n%{pts}"}'
	} >task.json
	run --separate-stderr filmeto-run --placeholder -o film.mp4 task.json
	echo "$output" >events
	[ "$status" -eq 1 ] # the task "gone" failed, by design
	[ "$(jget events 'by("completed")[0]["task_id"]')" = film ]
	[ "$(jfile film.json '[s["placeholder"] for s in d["scenes"]][:4]')" = "[true, false, true, false]" ]
	[ -s film-contact.png ]
	[ -z "$(find . -name '.filmeto-combine-*')" ]
	# Chapter titles are one line each, controls made spaces.
	run ffprobe -v error -show_entries chapter_tags=title -of json film.mp4
	python3 - "$output" <<'PY'
import json, sys
titles = [c["tags"]["title"] for c in json.loads(sys.argv[1])["chapters"]]
assert len(titles) == 16, titles
for t in titles:
    assert not any(ord(c) < 32 or 0x7f <= ord(c) <= 0x9f for c in t), repr(t)
assert titles[0] == "tab here", titles[0]
assert titles[5] == "%{pts}", titles[5]
PY
	# So is the film's own title.
	[ "$(ffprobe -v error -show_entries format_tags=title -of csv=p=0 film.mp4)" = "The film  %{pts}" ]
}

@test "drawtext expands nothing in a title" {
	# %{n} and %{frame_num} both expand to the frame number: drawn as
	# written, the two titles differ.
	combine_task f1 '[{"id":"a","file":"'"$M/sound.mp4"'","title":"%{n}"}]' >t1.json
	combine_task f2 '[{"id":"a","file":"'"$M/sound.mp4"'","title":"%{frame_num}"}]' >t2.json
	filmeto-run -o one.mp4 t1.json >/dev/null
	filmeto-run -o two.mp4 t2.json >/dev/null
	! cmp -s <(ffmpeg -v error -i one-contact.png -f rawvideo -) \
		<(ffmpeg -v error -i two-contact.png -f rawvideo -)
}

@test "titlecard draws a prompt of controls, %{...} and graph syntax" {
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
	filmeto-submit -t text2image -P titlecard -p width=320 -p height=180 -i card \
		-p "prompt=$(printf 'tab\there\x01 %%{eif:1/0:d} it'"'"'s a:b;[c],d\\\r\nnext')" >task.json
	run --separate-stderr filmeto-run -d out task.json
	[ "$status" -eq 0 ]
	[ "$(ffprobe -v error -show_entries stream=width -of csv=p=0 out/card/card.png)" -eq 320 ]
}

@test "a film with no sound at all: no gain, null loudness, valid JSON everywhere" {
	combine_task film '[{"id":"a","file":"'"$M/mute.mp4"'","text":"one"},
		{"id":"b","file":"'"$M/mute.mp4"'","narration":"'"$M/hush.wav"'"}]' >task.json
	run --separate-stderr filmeto-run -o film.mp4 task.json
	echo "$output" >events
	[ "$status" -eq 0 ]
	# Every line and the sidecar parse as strict JSON (no NaN, no Infinity).
	python3 - events film.json <<'PY'
import json, sys
def strict(c):
    raise ValueError("not JSON: " + c)
for l in open(sys.argv[1]):
    json.loads(l, parse_constant=strict)
json.load(open(sys.argv[2]), parse_constant=strict)
PY
	[ "$(jget events 'by("completed")[0]["metadata"]["loudness"]')" = \
		'{"measured_lufs": null, "measured_lra": null, "measured_true_peak": null, "measured_threshold": null, "target_lufs": -16.0, "gain_db": 0.0, "silent": true}' ]
	[ "$(jfile film.json 'd["loudness"]["silent"]')" = true ]
	[ "$(jfile film.json 'd["loudness"]["measured_true_peak"]')" = null ]
	# The film has its silent track, as long as the video.
	[ "$(ffprobe -v error -select_streams a -show_entries stream=codec_name -of csv=p=0 film.mp4)" = aac ]
}

@test "a film with sound reports its loudness and is not called silent" {
	combine_task film '[{"id":"a","file":"'"$M/sound.mp4"'"}]' >task.json
	filmeto-run -o film.mp4 task.json >events
	[ "$(jget events 'by("completed")[0]["metadata"]["loudness"]["silent"]')" = false ]
	[ "$(jget events 'by("completed")[0]["metadata"]["loudness"]["measured_lufs"] < -10')" = true ]
	[ "$(jget events 'by("completed")[0]["metadata"]["loudness"]["gain_db"] != 0')" = true ]
}

@test "no source makes a JSON number without fm_json_double's check for NaN and Infinity" {
	# json-c writes NaN and Infinity, which no JSON reader takes.
	run grep -rnE --include='*.c' --include='*.h' 'json_object_new_double(_s)?\b' \
		"$ROOT/lib" "$ROOT/cmd" "$ROOT/plugins"
	# util.h's warning, fm_json_new_number and fm_json_double: util's own.
	[ "${#lines[@]}" -eq 3 ]
	[[ "${lines[0]}" == */lib/util.* ]]
	[[ "${lines[1]}" == */lib/util.* ]]
	[[ "${lines[2]}" == */lib/util.* ]]
}

@test "blank lines and cue syntax in a narration stay inside its one cue" {
	combine_task film '[{"id":"a","file":"'"$M/sound.mp4"'","text":"one\n\n2\n00:00:01,000 --> 00:00:09,000\ninjected\n\n \t\nthree\r\n"},
		{"id":"b","file":"'"$M/sound.mp4"'","text":"\n \n\r\n"},
		{"id":"c","file":"'"$M/sound.mp4"'","text":"last --->"}]' >task.json
	filmeto-run -o film.mp4 task.json >events
	# One cue per scene with words: a's and c's; b's text is only blank.
	run ffprobe -v error -show_entries packet=pts_time,duration_time -of csv=p=0 film.srt
	[ "${#lines[@]}" -eq 2 ]
	[ "${lines[0]}" = "0.000000,1.000000" ]
	[ "${lines[1]}" = "2.000000,1.000000" ]
	# The words are all there, in the cue they belong to.
	ffmpeg -v error -i film.srt -f srt - | tr -d '\r' >read.srt
	diff - read.srt <<'SRT'
1
00:00:00,000 --> 00:00:01,000
one
2
00:00:01,000 -> 00:00:09,000
injected
three

2
00:00:02,000 --> 00:00:03,000
last ->

SRT
}

@test "frames too large to decode fail the film naming the scene, before decoding" {
	combine_task film '[{"id":"ok","file":"'"$M/sound.mp4"'"},{"id":"wide","file":"'"$M/wide.mkv"'"}]' >t1.json
	run --separate-stderr filmeto-run -o film.mp4 t1.json
	[ "$status" -eq 1 ]
	echo "$output" >events
	[ "$(jget events 'by("failed")[0]["error"]["code"]')" = RESOURCE_PROCESSING_ERROR ]
	[ "$(jget events 'by("failed")[0]["error"]["details"]["scene"]')" = wide ]
	jget events 'by("failed")[0]["error"]["message"]' |
		grep -F "scene 'wide': '$M/wide.mkv' has 16400x16 frames, larger than 16384 pixels a side"

	# A still's size is known only by decoding it: the decoder is held to the limit.
	python3 - "$M/huge.png" >t2.json <<'PY'
import json, sys
print(json.dumps({"type": "task", "task_id": "film", "tool_name": "combine",
                  "parameters": {"width": 320, "height": 180, "scenes": [{"id": "still", "duration": 1}]},
                  "resources": [{"type": "local_path", "data": sys.argv[1],
                                 "metadata": {"scene": "still", "role": "image"}}]}))
PY
	run --separate-stderr filmeto-run -o film.mp4 t2.json
	[ "$status" -eq 1 ]
	echo "$output" >events2
	jget events2 'by("failed")[0]["error"]["message"]' |
		grep -F "scene 'still': '$M/huge.png' has no video frame that decodes within 16384 pixels a side and 67108864 in all"
	[ ! -e film.mp4 ]
	[ -z "$(find . -name '.filmeto-combine-*')" ]
}

@test "kenburns and waveform refuse a still too large to decode, and take a 24 Mpx photo" {
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
	{
		filmeto-submit -t image2video -P kenburns -r "$M/huge.png" -p width=320 -p height=180 \
			-p duration=0.2 -i kb
		filmeto-submit -t speak2video -P waveform -r "$M/huge.png" -r "$M/hush.wav" \
			-p width=320 -p height=180 -i wf
		filmeto-submit -t image2video -P kenburns -r "$M/photo.png" -p width=320 -p height=180 \
			-p duration=0.2 -i photo
	} >tasks.json
	run --separate-stderr filmeto-run -d out tasks.json
	[ "$status" -eq 1 ]
	echo "$output" >events
	[ "$(jget events 'sorted(l["task_id"] + " " + l["error"]["code"] for l in by("failed"))')" = \
		'["kb RESOURCE_PROCESSING_ERROR", "wf RESOURCE_PROCESSING_ERROR"]' ]
	for id in kb wf; do
		jget events '[l for l in by("failed") if l["task_id"] == "'$id'"][0]["error"]["message"]' |
			grep -F "'$M/huge.png' has no video frame that decodes within 16384 pixels a side"
	done
	[ "$(jget events 'by("completed")[0]["task_id"]')" = photo ]
	[ -s out/photo/clip.mp4 ]
}

# builtin_child PID: the pid of filmeto-run PID's combine child, if any.
builtin_child() {
	local p
	for p in $(pgrep -P "$1"); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- '--filmeto-builtin combine' &&
			echo "$p" && return 0
	done
	return 1
}

@test "combine runs in a child: its crash fails the film only, and its work folder goes" {
	python3 - "$M/sound.mp4" >film.json <<'PY'
import json, sys
n = 8
print(json.dumps({"type": "task", "task_id": "film", "tool_name": "combine",
                  "parameters": {"width": 640, "height": 360, "fps": 25,
                                 "scenes": [{"id": "s%d" % i, "duration": 1, "transition": "fade"}
                                            for i in range(n)]},
                  "resources": [{"type": "local_path", "data": sys.argv[1],
                                 "metadata": {"scene": "s%d" % i, "role": "video"}}
                                for i in range(n)]}))
PY
	combine_task after '[{"id":"a","file":"'"$M/sound.mp4"'"}]' >after.json
	export SOME_API_KEY=do-not-leak
	mkfifo feed
	filmeto-run -d out feed >events 2>stderr &
	pid=$!
	exec {w}>feed
	cat film.json >&$w
	child=
	for _ in $(seq 500); do
		child=$(builtin_child "$pid") && [ -n "$(find out -name '.filmeto-combine-*' 2>/dev/null)" ] && break
		sleep 0.01
	done
	[ -n "$child" ]
	# Its own process group, and none of filmeto-run's secrets.
	[ "$(ps -o pgid= -p "$child" | tr -d ' ')" = "$child" ]
	! tr '\0' '\n' <"/proc/$child/environ" | grep -q SOME_API_KEY
	kill -SEGV "$child"
	# filmeto-run lives on, and the next film gets a combine of its own.
	cat after.json >&$w
	exec {w}>&-
	rc=0
	wait "$pid" || rc=$?
	cat events stderr >&2
	[ "$rc" -eq 1 ]
	[ "$(jget events 'by("failed")[0]["task_id"]')" = film ]
	[ "$(jget events 'by("failed")[0]["error"]["code"]')" = PLUGIN_EXECUTION_ERROR ]
	# The signal is named; under SANITIZE=1 ASan catches it and says so.
	jget events 'by("failed")[0]["error"]' | python3 -c '
import json, sys
e = json.load(sys.stdin)
asan = any("AddressSanitizer: SEGV" in l for l in e["details"]["stderr"])
assert asan or (e["details"]["signal"] == 11 and "killed by signal 11" in e["message"]), e'
	[ "$(jget events 'by("completed")[0]["task_id"]')" = after ]
	[ -s out/after/film.mp4 ]
	[ ! -e out/film/film.mp4 ]
	[ -z "$(find . -name '.filmeto-combine-*' -o -name '*.part')" ]
	! kill -0 "$child" 2>/dev/null
}

@test "a combine child ends with filmeto-run and leaves nothing running" {
	combine_task film '[{"id":"a","file":"'"$M/sound.mp4"'"}]' >task.json
	filmeto-run -o film.mp4 task.json >events
	[ "$(jget events 'by("completed")[0]["task_id"]')" = film ]
	! pgrep -a -f -- '--filmeto-builtin combine' | while read -r p _; do
		[ "$(readlink "/proc/$p/cwd")" = "$PWD" ] && echo "left: $p"
	done | grep left
	# The helper answers only for the built-in it has.
	run "$ROOT/cmd/filmeto-combine" --filmeto-builtin nothing </dev/null
	[ "$status" -eq 2 ]
}

# --- file names that libavformat would read as patterns ----------------------

# rgb FILE: the colour of FILE's first frame, shrunk to one pixel, as "R G B".
rgb() {
	ffmpeg -v error -i "$1" -frames:v 1 -vf scale=1:1 -f rawvideo -pix_fmt rgb24 - |
		od -An -tu1 | xargs
}
# red FILE: FILE's first frame is red (and not the blue of a pattern's file).
red() {
	local c
	read -r -a c <<<"$(rgb "$1")"
	[ "${c[0]}" -gt 180 ] && [ "${c[2]}" -lt 80 ] || { echo "'$1' is ${c[*]}, not red"; return 1; }
}

# patterned DIR: in DIR, red stills and a sine whose names are image2
# patterns ('shot%d.png', 'pctn%{n}.png', 'voice%d.wav'), beside blue
# stills and silence the patterns would match ('shot1.png', 'voice1.wav').
patterned() {
	mkdir -p "$1"
	ffmpeg -v error -y -f lavfi -i color=c=red:s=160x90 -frames:v 1 -update 1 "$1/shot%d.png"
	cp "$1/shot%d.png" "$1/pctn%{n}.png"
	ffmpeg -v error -y -f lavfi -i color=c=blue:s=160x90 -frames:v 1 -update 1 "$1/shot1.png"
	ffmpeg -v error -y -f lavfi -i "sine=f=440:r=48000:d=0.6" "$1/voice%d.wav"
	cp "$M/hush.wav" "$1/voice1.wav"
}

@test "kenburns and waveform open a file named like an image sequence as that one file" {
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
	patterned in
	[ "$(rgb 'in/shot1.png' | cut -d' ' -f3)" -gt 180 ]
	{
		filmeto-submit -t image2video -P kenburns -r "$PWD/in/shot%d.png" -p width=320 \
			-p height=180 -p duration=0.2 -i kb
		filmeto-submit -t image2video -P kenburns -r "$PWD/in/pctn%{n}.png" -p width=320 \
			-p height=180 -p duration=0.2 -i kb2
		filmeto-submit -t speak2video -P waveform -r "$PWD/in/shot%d.png" \
			-r "$PWD/in/voice%d.wav" -p width=320 -p height=180 -i wf
	} >tasks.json
	run --separate-stderr filmeto-run -d out tasks.json
	echo "$output" >events
	[ "$status" -eq 0 ] || { jget events 'by("failed")'; false; }
	red out/kb/clip.mp4
	red out/kb2/clip.mp4
	red out/wf/clip.mp4
	# The narration is the sine, 0.6 s of it, not voice1.wav's silence.
	[ "$(ffprobe -v error -show_entries format=duration -of csv=p=0 out/wf/clip.mp4 | cut -c1-3)" = 0.6 ]
	ffmpeg -v info -i out/wf/clip.mp4 -af volumedetect -f null - 2>&1 | grep -Eq "max_volume: -[0-9]{1,2}\.[0-9] dB"
}

@test "combine reads a still, a narration and music named like patterns as those files" {
	patterned in
	python3 - "$PWD/in" >film.json <<'PY'
import json, sys
d = sys.argv[1]
def res(path, scene, role):
    return {"type": "local_path", "data": d + "/" + path, "metadata": {"scene": scene, "role": role}}
print(json.dumps({"type": "task", "task_id": "film", "tool_name": "combine",
                  "parameters": {"width": 320, "height": 180, "fps": 25,
                                 "scenes": [{"id": "a", "duration": 1}, {"id": "b", "duration": 1}]},
                  "resources": [res("shot%d.png", "a", "image"), res("voice%d.wav", "a", "narration"),
                                res("pctn%{n}.png", "b", "image"),
                                {"type": "local_path", "data": d + "/voice%d.wav",
                                 "metadata": {"role": "music"}}]}))
PY
	run --separate-stderr filmeto-run -o "$PWD/film/F.mp4" film.json
	echo "$output" >events
	[ "$status" -eq 0 ] || { jget events 'by("failed")'; false; }
	red film/F.mp4
	red film/F-contact.png
	[ "$(jget events 'by("completed")[0]["metadata"]["loudness"]["silent"]')" = false ]
}

@test "a relative scene path that spells a URL, a playlist and a concat list: combine fetches nothing" {
	mkdir www
	cp "$M/mute.mp4" www/x.mp4
	serve www
	url=$URL
	# A local file whose relative name reads as the server's URL: a file, not a protocol.
	mkdir -p "http:/127.0.0.1:$PORT"
	cp "$M/sound.mp4" "http:/127.0.0.1:$PORT/x.mp4"
	combine_task film '[{"id":"local","file":"'"$url/x.mp4"'"}]' > t0.json
	run --separate-stderr filmeto-run -o "$PWD/t0.mp4" t0.json
	echo "$output" > events
	[ "$status" -eq 0 ]
	[ "$(jget events 'by("completed")[0]["metadata"]["loudness"]["silent"]')" = false ]
	printf '#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n%s/x.mp4\n#EXT-X-ENDLIST\n' "$url" > list.m3u8
	printf 'ffconcat version 1.0\nfile %s/x.mp4\n' "$url" > list.ffconcat
	combine_task film '[{"id":"hls","file":"'"$PWD/list.m3u8"'"}]' > t1.json
	combine_task film '[{"id":"cat","file":"'"$PWD/list.ffconcat"'"}]' > t2.json
	for t in t1 t2; do
		run --separate-stderr filmeto-run -o "$PWD/$t.mp4" $t.json
		echo "$output" > events
		[ "$status" -eq 1 ]
		[ "$(jget events 'by("failed")[0]["error"]["code"]')" = RESOURCE_PROCESSING_ERROR ]
		[[ "$(jget events 'by("failed")[0]["error"]["message"]')" == "scene '"* ]]
	done
	[ ! -e www/requests.log ]
}

# --- scenes and sounds at the edges of what a graph takes --------------------

@test "one-frame clips and stills: cut, fade, crossfade and a re-encode all give every frame" {
	ffmpeg -v error -y -f lavfi -i "testsrc2=s=320x180:r=25" -frames:v 1 -c:v libx264 \
		-pix_fmt yuv420p one.mp4
	# a frame of 1/120 s: less than half a frame of the film
	ffmpeg -v error -y -f lavfi -i "testsrc2=s=320x180:r=120" -frames:v 1 -c:v libx264 \
		-pix_fmt yuv420p fast.mp4
	ffmpeg -v error -y -f lavfi -i color=c=red:s=160x90 -frames:v 1 -update 1 still.png
	for how in cut fade crossfade; do
		python3 - "$PWD" "$how" >film-$how.json <<'PY'
import json, sys
d, how = sys.argv[1], sys.argv[2]
scenes = [{"id": "a", "duration": 1}, {"id": "b", "duration": 1, "transition": how},
          {"id": "c", "duration": 1, "transition": how}, {"id": "d", "duration": 1}]
files = [("one.mp4", "video"), ("one.mp4", "video"), ("fast.mp4", "video"), ("still.png", "image")]
print(json.dumps({"type": "task", "task_id": "film", "tool_name": "combine",
                  "parameters": {"width": 640, "height": 360, "fps": 25, "scenes": scenes},
                  "resources": [{"type": "local_path", "data": d + "/" + f,
                                 "metadata": {"scene": s["id"], "role": r}}
                                for s, (f, r) in zip(scenes, files)]}))
PY
		run --separate-stderr filmeto-run -o "$PWD/$how.mp4" film-$how.json
		echo "$output" >events
		[ "$status" -eq 0 ] || { jget events 'by("failed")'; false; }
		# a, b and c are a frame each (too short to overlap), the still its second.
		frames=$(jget events 'by("completed")[0]["metadata"]["frames"]')
		[ "$frames" -eq 28 ]
		[ "$(ffprobe -v error -count_frames -select_streams v -show_entries stream=nb_read_frames \
			-of csv=p=0 "$how.mp4")" -eq "$frames" ]
	done
}

# wav64 FILE: a valid 64-channel WAV, whose channels have no layout.
wav64() {
	python3 - "$1" <<'PY'
import math, struct, sys, wave
w = wave.open(sys.argv[1], "wb")
w.setnchannels(64)
w.setsampwidth(2)
w.setframerate(48000)
w.writeframes(b"".join(struct.pack("<h", int(3000 * math.sin(i / 20))) * 64 for i in range(24000)))
w.close()
PY
}

@test "a narration or music in 64 channels without a layout fails naming the scene, the file and why" {
	wav64 "$PWD/w64.wav"
	combine_task film '[{"id":"ok","file":"'"$M/sound.mp4"'"},{"id":"many","file":"'"$M/mute.mp4"'","narration":"'"$PWD/w64.wav"'"}]' >t1.json
	run --separate-stderr filmeto-run -o "$PWD/film.mp4" t1.json
	[ "$status" -eq 1 ]
	echo "$output" >events
	[ "$(jget events 'by("failed")[0]["error"]["details"]["scene"]')" = many ]
	[ "$(jget events 'by("failed")[0]["error"]["details"]["file"]')" = "$PWD/w64.wav" ]
	jget events 'by("failed")[0]["error"]["message"]' |
		grep -F "scene 'many': '$PWD/w64.wav' has 64 audio channels in no known layout"
	# As the music bed: named as the music.
	python3 - "$M/mute.mp4" "$PWD/w64.wav" >t2.json <<'PY'
import json, sys
print(json.dumps({"type": "task", "task_id": "film", "tool_name": "combine",
                  "parameters": {"width": 320, "height": 180, "scenes": [{"id": "a", "duration": 1}]},
                  "resources": [{"type": "local_path", "data": sys.argv[1], "metadata": {"scene": "a", "role": "video"}},
                                {"type": "local_path", "data": sys.argv[2], "metadata": {"role": "music"}}]}))
PY
	run --separate-stderr filmeto-run -o "$PWD/film.mp4" t2.json
	[ "$status" -eq 1 ]
	echo "$output" >events
	jget events 'by("failed")[0]["error"]["message"]' |
		grep -F "music: '$PWD/w64.wav' has 64 audio channels in no known layout"
	[ ! -e film.mp4 ]
}
