#!/usr/bin/env bats
# The built-in combine tool: films made from real media files, checked by
# decoding them with ffprobe and ffmpeg.

load test_helper

# mkclip FILE SIZE FPS SECONDS [RATE|none]: an H.264 clip with AAC sound
# at RATE Hz (default 48000), or without sound; all made the same way, so
# clips of one size and rate have identical codec parameters.
mkclip() {
	local audio=(-f lavfi -i "sine=f=330:r=${5:-48000}:d=$4") amap=(-map 1:a -c:a aac)
	if [ "${5:-}" = none ]; then
		audio=()
		amap=()
	fi
	ffmpeg -v error -y -f lavfi -i "testsrc2=s=$2:r=$3:d=$4" "${audio[@]}" \
		-map 0:v -c:v libx264 -preset ultrafast -pix_fmt yuv420p -g 25 \
		"${amap[@]}" -shortest "$1"
}

setup_file() {
	local d="$BATS_FILE_TMPDIR"
	mkclip "$d/a.mp4" 320x180 25 2
	mkclip "$d/b.mp4" 320x180 25 1.6
	mkclip "$d/c.mp4" 320x180 25 2.4
	mkclip "$d/big.mp4" 640x360 25 2
	mkclip "$d/fast.mp4" 320x180 30 2
	mkclip "$d/mute.mp4" 320x180 25 2 none
	mkclip "$d/low.mp4" 320x180 25 2 22050
	ffmpeg -v error -y -f lavfi -i "sine=f=600:r=22050:d=1.2" "$d/speech.wav"
	ffmpeg -v error -y -f lavfi -i "anoisesrc=c=pink:r=44100:d=3:a=0.2" "$d/music.wav"
	head -c 20000 /dev/urandom >"$d/corrupt.mp4"
}

setup() {
	common_setup
	M="$BATS_FILE_TMPDIR"
}

# film ID SPEC...: a combine task line; SPEC is SCENE=FILE[,narration=FILE]
# [,transition=T][,text=WORDS], or music=FILE.
film() {
	python3 - "$@" <<'PY'
import json, sys
tid, specs = sys.argv[1], sys.argv[2:]
scenes, res = [], []
for spec in specs:
    parts = spec.split(",")
    name, path = parts[0].split("=", 1)
    if name == "music":
        res.append({"type": "local_path", "data": path, "metadata": {"role": "music"}})
        continue
    s = {"id": name, "duration": 2, "title": "Scene " + name}
    res.append({"type": "local_path", "data": path,
                "metadata": {"scene": name, "role": "video"}})
    for kv in parts[1:]:
        k, v = kv.split("=", 1)
        if k == "narration":
            res.append({"type": "local_path", "data": v,
                        "metadata": {"scene": name, "role": "narration"}})
        else:
            s[k] = v
    scenes.append(s)
print(json.dumps({"type": "task", "task_id": tid, "tool_name": "combine",
                  "parameters": {"title": "Test film", "width": 320, "height": 180,
                                 "fps": 25, "scenes": scenes},
                  "resources": res}))
PY
}

# frames_agree FILM: audio and video end within one frame (40 ms at 25 fps).
frames_agree() {
	local v a
	v=$(probe "$1" stream=duration v:0)
	a=$(probe "$1" stream=duration a:0)
	python3 -c "import sys; d=abs($v-$a); print('video', $v, 'audio', $a); sys.exit(d > 0.04)"
}

decodes() {
	run ffmpeg -v error -i "$1" -f null -
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "uniform scenes are stream-copied on counted frames with one audio track" {
	film f "s1=$M/a.mp4,text=one" "s2=$M/b.mp4,narration=$M/speech.wav,text=two" \
		"s3=$M/c.mp4,text=three" "music=$M/music.wav" >task.json
	run filmeto-run -o film.mp4 task.json
	[ "$status" -eq 0 ]
	echo "$output" >events
	[ "$(jget events 'by("completed")[-1]["metadata"]["path"]')" = copy ]
	# With -o nothing is left in the task's own directory.
	[ ! -e filmeto-out ]
	decodes film.mp4
	# 50 + 40 + 60 frames, none lost or duplicated.
	[ "$(probe film.mp4 stream=nb_frames v:0)" -eq 150 ]
	[ "$(probe film.mp4 stream=codec_name v:0)" = h264 ]
	[ "$(probe film.mp4 stream=codec_name a:0)" = aac ]
	[ "$(probe film.mp4 stream=sample_rate a:0)" = 48000 ]
	frames_agree film.mp4
	# The video was copied, not re-encoded: same packets as the first clip.
	cmp <(ffmpeg -v error -i "$M/a.mp4" -map 0:v -c copy -f framemd5 - | grep -v '^#' | head -20 | cut -d, -f5-) \
		<(ffmpeg -v error -i film.mp4 -map 0:v -c copy -f framemd5 - | grep -v '^#' | head -20 | cut -d, -f5-)
	# A progress line counted frames.
	jget events '[l for l in by("progress") if "frames" in l.get("message","")][0]["message"]'
}

@test "chapters, subtitles, thumbnails, contact sheet and sidecar match the scenes" {
	film f "s1=$M/a.mp4,text=one" "s2=$M/b.mp4,text=two words" "s3=$M/c.mp4" >task.json
	filmeto-run -o out/film.mp4 task.json >events
	[ "$(ffprobe -v error -show_chapters -of csv=p=0 out/film.mp4 | wc -l)" -eq 3 ]
	run ffprobe -v error -show_entries chapter=start_time:chapter_tags=title -of csv=p=0 out/film.mp4
	[ "${lines[0]}" = "0.000000,Scene s1" ]
	[ "${lines[1]}" = "2.000000,Scene s2" ]
	[ "${lines[2]}" = "3.600000,Scene s3" ]
	# Cues at the scene starts; a scene without text has none.
	run cat out/film.srt
	[ "${lines[0]}" = 1 ]
	[ "${lines[1]}" = "00:00:00,000 --> 00:00:02,000" ]
	[ "${lines[2]}" = one ]
	[ "${lines[4]}" = "00:00:02,000 --> 00:00:03,600" ]
	[ "${lines[5]}" = "two words" ]
	[ "${#lines[@]}" -eq 6 ]
	[ "$(jfile out/film.json 'd["path"]')" = copy ]
	[ "$(jfile out/film.json '[s["start"] for s in d["scenes"]]')" = "[0.0, 2.0, 3.6]" ]
	[ "$(jfile out/film.json 'd["scenes"][1]["sources"]["video"]')" = "$M/b.mp4" ]
	[ "$(jfile out/film.json 'd["frames"]')" -eq 150 ]
	for t in out/film-thumbs/01-s1.png out/film-thumbs/02-s2.png out/film-thumbs/03-s3.png; do
		[ "$(probe "$t" stream=codec_name v:0)" = png ]
		[ "$(probe "$t" stream=width v:0)" -eq 320 ]
	done
	# Three thumbnails tiled 2x2 with 4-pixel margins and padding.
	[ "$(probe out/film-contact.png stream=width v:0)" -eq 652 ]
	[ "$(jget events 'len(by("completed")[-1]["output_files"])')" -eq 7 ]
}

@test "a long scene title wraps, shrinks and is cut inside its contact-sheet tile" {
	# Plain grey scenes: the sheet's only bright pixels are its captions.
	ffmpeg -v error -f lavfi -i color=gray:s=320x180:r=25:d=1 -c:v libx264 -preset ultrafast \
		-pix_fmt yuv420p grey.mp4
	long="Plugins render every scene at once while the caption of this scene keeps going on and on well past the edge of its tile"
	film f "s1=grey.mp4,title=Short" "s2=grey.mp4,title=$long" \
		"s3=grey.mp4,title=$(printf 'Wm%.0s' {1..60})" \
		"s4=grey.mp4,title=Ünïcödé façade — Жизнь прекрасна и удивительна; 中文 Ωμέγα ÆŒ ‰ $long" >task.json
	filmeto-run -o film.mp4 task.json >/dev/null
	# Four 320x180 tiles, 2x2, with 4-pixel margins and padding. Each
	# caption keeps 4 pixels from its tile's sides and stays on its dark
	# band: one line's (a seventh of the tile) for a short title, taller
	# for the long ones, which fill most of the width.
	python3 - film-contact.png <<'PY'
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("L")
assert im.size == (652, 372), im.size
for i in range(4):
    x, y = 4 + i % 2 * 324, 4 + i // 2 * 184
    tile = im.crop((x, y, x + 320, y + 180))
    text = tile.point(lambda v: 255 if v > 200 else 0).getbbox()
    band = 180 - next(r for r in range(180) if tile.getpixel((2, r)) < 90)
    print(i + 1, text, band)
    assert text and 4 <= text[0] and text[2] <= 320 - 4, (i + 1, text)
    assert 180 - band <= text[1], (i + 1, text, band)
    if i == 0:
        assert abs(band - 180 // 7) <= 1 and text[2] < 160, (text, band)
    else:
        assert band > 180 // 7 + 8 and text[2] > 320 * 3 // 4, (i + 1, text, band)
PY
}

@test "mixed sizes and frame rates are re-encoded through one encoder" {
	film f "s1=$M/a.mp4" "s2=$M/big.mp4" "s3=$M/fast.mp4" >task.json
	filmeto-run -o film.mp4 task.json >events
	[ "$(jget events 'by("completed")[-1]["metadata"]["path"]')" = reencode ]
	jget events 'by("completed")[-1]["metadata"]["reason"]' | grep "640x360, not 320x180"
	decodes film.mp4
	[ "$(probe film.mp4 stream=width v:0)x$(probe film.mp4 stream=height v:0)" = 320x180 ]
	[ "$(probe film.mp4 stream=r_frame_rate v:0)" = 25/1 ]
	[ "$(probe film.mp4 stream=nb_frames v:0)" -eq 150 ]
	frames_agree film.mp4

	film g "s1=$M/a.mp4" "s2=$M/fast.mp4" >task2.json
	filmeto-run -o film2.mp4 task2.json >events2
	jget events2 'by("completed")[-1]["metadata"]["reason"]' | grep "fps"
	[ "$(probe film2.mp4 stream=nb_frames v:0)" -eq 100 ]
}

@test "a scene without sound or at another sample rate gets its share of one audio track" {
	film f "s1=$M/a.mp4" "s2=$M/mute.mp4" "s3=$M/low.mp4" >task.json
	filmeto-run -o film.mp4 task.json >events
	# Video still matches, so it is copied; the sound is always rebuilt.
	[ "$(jget events 'by("completed")[-1]["metadata"]["path"]')" = copy ]
	[ "$(jget events 'by("completed")[-1]["metadata"]["audio"]')" = reencode ]
	decodes film.mp4
	[ "$(probe film.mp4 stream=sample_rate a:0)" = 48000 ]
	[ "$(probe film.mp4 stream=channels a:0)" = 2 ]
	frames_agree film.mp4
	# Silence where the mute scene is, sound on both sides of it.
	run ffmpeg -v info -i film.mp4 -af "atrim=2.2:3.8,volumedetect" -f null -
	[[ "$output" == *"max_volume: -91"* ]]
	run ffmpeg -v info -i film.mp4 -af "atrim=4.2:5.8,volumedetect" -f null -
	[[ "$output" != *"max_volume: -91"* ]]
}

@test "a crossfade overlaps two scenes and the timeline accounts for it" {
	film f "s1=$M/a.mp4,text=one" "s2=$M/b.mp4,transition=crossfade,text=two" \
		"s3=$M/c.mp4,transition=fade" >task.json
	filmeto-run -o film.mp4 task.json >events
	[ "$(jget events 'by("completed")[-1]["metadata"]["path"]')" = reencode ]
	decodes film.mp4
	# 150 frames less the 12-frame (0.5 s at 25 fps, rounded) overlap.
	[ "$(probe film.mp4 stream=nb_frames v:0)" -eq 138 ]
	frames_agree film.mp4
	run ffprobe -v error -show_entries chapter=start_time -of csv=p=0 film.mp4
	[ "${lines[1]}" = "1.520000" ]
	grep -x "00:00:01,520 --> 00:00:03,120" film.srt
}

@test "a scene file that cannot be decoded fails the film naming the scene" {
	film f "s1=$M/a.mp4" "broken=$M/corrupt.mp4" >task.json
	run --separate-stderr filmeto-run -o film.mp4 task.json
	[ "$status" -eq 1 ]
	echo "$output" >events
	[ "$(jget events 'by("failed")[0]["error"]["code"]')" = RESOURCE_PROCESSING_ERROR ]
	jget events 'by("failed")[0]["error"]["message"]' | grep "scene 'broken'"
	[ "$(jget events 'by("failed")[0]["error"]["details"]["scene"]')" = broken ]
	[ ! -e film.mp4 ]
	[ -z "$(find . -name '*.part' -o -name '.filmeto-combine-*')" ]

	film g "s1=$M/a.mp4" "gone=$M/missing.mp4" >task2.json
	run --separate-stderr filmeto-run -o film.mp4 task2.json
	[ "$status" -eq 1 ]
	echo "$output" >events2
	[ "$(jget events2 'by("failed")[0]["error"]["code"]')" = RESOURCE_PROCESSING_ERROR ]
	jget events2 'by("failed")[0]["error"]["message"]' | grep "scene 'gone'"
}

@test "zero scenes or a negative duration is refused at submit" {
	run filmeto-submit -t combine -p 'scenes=[]'
	[ "$status" -eq 2 ]
	[ -z "$(echo "$output" | grep '"type"')" ]
	[[ "$output" == *"needs 1 to 1000 scenes"* ]]
	run filmeto-submit -t combine -p 'scenes=[{"id":"a","duration":-2}]'
	[ "$status" -eq 2 ]
	[[ "$output" == *"scene 'a': duration -2 is outside"* ]]
	# The same checks guard filmeto-run against hand-written lines.
	echo '{"type":"task","task_id":"f","tool_name":"combine","parameters":{"scenes":[]}}' >t.json
	run filmeto-run t.json
	[ "$status" -eq 1 ]
	[[ "$output" == *VALIDATION_ERROR* ]]
}

@test "-o takes a film name, and only one film may write it" {
	run filmeto-run -o film.gif /dev/null
	[ "$status" -eq 2 ]
	[[ "$output" == *"does not end in .mp4, .mov or .mkv"* ]]
	{
		film f1 "s1=$M/a.mp4"
		film f2 "s1=$M/b.mp4"
	} >tasks.json
	run --separate-stderr filmeto-run -o film.mkv tasks.json
	[ "$status" -eq 1 ]
	echo "$output" >events
	[ "$(jget events 'by("completed")[0]["task_id"]')" = f1 ]
	jget events 'by("failed")[0]["error"]["message"]' | grep "already writes it"
	ffprobe -v error -show_entries format=format_name -of csv=p=0 film.mkv | grep matroska
}

@test "cancelling a combine leaves no film and no temporary file" {
	film f "s1=$M/a.mp4" "s2=$M/big.mp4" "s3=$M/c.mp4" "s4=$M/a.mp4" "s5=$M/big.mp4" >task.json
	mkfifo feed
	filmeto-run -o film.mp4 feed >events &
	pid=$!
	exec {w}>feed
	cat task.json >&$w
	for _ in $(seq 100); do
		grep -q '"stage":"encode"\|"stage":"measure"' events 2>/dev/null && break
		sleep 0.05
	done
	echo '{"type":"cancel","task_id":"f"}' >&$w
	exec {w}>&-
	rc=0
	wait $pid || rc=$?
	cat events >&2
	[ "$rc" -eq 1 ]
	[ "$(jget events 'by("cancelled")[0]["error"]["code"]')" = TASK_CANCELLED ]
	[ ! -e film.mp4 ]
	[ -z "$(find . -name '*.part' -o -name '.filmeto-combine-*')" ]
}

# board FILE [EXTRA SCENE YAML]: a three-scene storyboard for the bundled
# plugins, small so it renders in a few seconds.
board() {
	cat >"$1" <<YAML
title: Small film
size: 320x180
fps: 25
music: "calm piano"
scenes:
  - id: one
    prompt: "One"
    narration: "The first scene."
    duration: 2
  - id: two
    prompt: "Two"
    narration: "${2:-The second scene.}"
    duration: 2
  - id: three
    prompt: "Three"
    duration: 2
${3:-}
YAML
}

@test "a storyboard renders offline with the bundled plugins, stream-copied" {
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
	board film.yaml
	filmeto-submit --storyboard film.yaml | filmeto-run -o film.mp4 >events
	[ "$(jget events 'by("completed")[-1]["task_id"]')" = film-film ]
	[ "$(jget events 'by("completed")[-1]["metadata"]["path"]')" = copy ]
	[ "$(jget events 'sorted({l["plugin_name"] for l in by("started")})')" = \
		'["combine", "espeak", "kenburns", "synth", "titlecard"]' ]
	decodes film.mp4
	[ "$(probe film.mp4 stream=nb_frames v:0)" -eq 150 ]
	frames_agree film.mp4
	grep -x "The first scene." film.srt
	[ "$(jfile film.json 'd["scenes"][0]["plugins"]')" = '{"video": "kenburns", "narration": "espeak"}' ]
	# The narration is there and the music bed under it: not silent.
	run ffmpeg -v info -i film.mp4 -af volumedetect -f null -
	[[ "$output" =~ mean_volume:\ -([0-9]+) ]]
	[ "${BASH_REMATCH[1]}" -lt 40 ]
}

@test "a rerun renders only what changed" {
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
	board film.yaml
	filmeto-submit --storyboard film.yaml | filmeto-run -o film.mp4 >first
	[ "$(jget first 'len([l for l in by("completed") if l["metadata"].get("cached")])')" -eq 0 ]
	board film.yaml "A different line for scene two."
	filmeto-submit --storyboard film.yaml | filmeto-run -o film.mp4 >second
	# Only the changed narration and the film itself ran again; the rest
	# came from the cache (a task with inputs says started while they are hashed).
	[ "$(jget second 'sorted(l["task_id"] for l in by("completed") if not l["metadata"].get("cached"))')" = \
		'["film-film", "film-two-narration"]' ]
	grep -x "A different line for scene two." film.srt
	decodes film.mp4
}

@test "an unchanged rerun with -o does not combine the film again" {
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
	board film.yaml
	filmeto-submit --storyboard film.yaml > tasks
	filmeto-run -o film.mp4 tasks > first
	holds first 'not one("completed", "film-film")["metadata"].get("cached")'
	[ "$(jfile film.json 'd["filmeto_run"]["output_files"][0]')" = "$BATS_TEST_TMPDIR/film.mp4" ]
	before=$(stat -c %Y.%s film.mp4)
	filmeto-run -o film.mp4 tasks > second
	# Every task answered from the cache, the film from its sidecar's
	# stamp: no plugin and no combine ran, and the film is untouched.
	[ "$(jget second 'len(by("completed"))')" -eq "$(jget first 'len(by("completed"))')" ]
	[ "$(jget second 'len([l for l in by("completed") if not l["metadata"].get("cached")])')" -eq 0 ]
	[ "$(jget second '[l for l in by("completed") if l["task_id"] == "film-film"][0]["output_files"]')" = \
		"$(jget first '[l for l in by("completed") if l["task_id"] == "film-film"][0]["output_files"]')" ]
	[ "$(stat -c %Y.%s film.mp4)" = "$before" ]
	[ "$(jget second 'len(by("progress"))')" -eq 0 ]
	# A film changed on disk or a file beside it gone: combined again.
	# (Another -o is another key, the output being one of its parameters;
	# --no-cache looks at no key at all.)
	touch -d '2020-01-01 00:00' film.mp4
	filmeto-run -o film.mp4 tasks > third
	holds third 'not one("completed", "film-film")["metadata"].get("cached")'
	rm film-contact.png
	filmeto-run -o film.mp4 tasks > fourth
	holds fourth 'not one("completed", "film-film")["metadata"].get("cached")'
	[ -s film-contact.png ]
}

@test "a failed scene fails the film, or becomes a title card with --placeholder" {
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
	head -c 5000 /dev/urandom >bad.png
	board film.yaml "" "  - id: four
    image: bad.png
    duration: 2"
	run --separate-stderr sh -c 'filmeto-submit --storyboard film.yaml | filmeto-run -o film.mp4'
	[ "$status" -eq 1 ]
	echo "$output" >events
	[ "$(jget events '[l for l in by("failed") if l["task_id"] == "film-film"][0]["error"]["code"]')" = DEPENDENCY_FAILED ]
	[ ! -e film.mp4 ]

	run --separate-stderr sh -c 'filmeto-submit --storyboard film.yaml | filmeto-run --placeholder -o film.mp4'
	[ "$status" -eq 1 ] # the scene's own task still failed
	echo "$output" >events
	[ "$(jget events 'by("completed")[-1]["task_id"]')" = film-film ]
	[ "$(jfile film.json '[s["placeholder"] for s in d["scenes"]]')" = "[false, false, false, true]" ]
	[ "$(jfile film.json 'd["scenes"][3]["failed_task"]')" = film-four-video ]
	decodes film.mp4
	[ "$(probe film.mp4 stream=nb_frames v:0)" -eq 200 ]
}

# beside DIR: what DIR holds, one name a line, '/' after a directory, '@' after a link.
beside() { (cd "$1" && find . -mindepth 1 -maxdepth 2 -printf '%P%y\n' | sed 's/d$/\//; s/l$/@/; s/f$//' | sort); }

@test "combine refuses to write beside -o through a planted link, and leaves nothing there" {
	mkdir -p elsewhere/vdir film
	echo precious > elsewhere/file
	film F "a=$M/a.mp4,text=Hello" "b=$M/b.mp4" >task.json
	for name in F-thumbs F.mp4 F.json F.srt F-contact.png F-thumbs/01-a.png; do
		rm -rf film/*
		if [ "$name" = F-thumbs ]; then
			ln -s "$PWD/elsewhere/vdir" film/F-thumbs
		elif [ "$name" = F-thumbs/01-a.png ]; then
			mkdir film/F-thumbs
			ln -s "$PWD/elsewhere/file" "film/$name"
		else
			ln -s "$PWD/elsewhere/file" "film/$name"
		fi
		before=$(beside film)
		run --separate-stderr filmeto-run -o "$PWD/film/F.mp4" task.json
		echo "$output" >events
		[ "$status" -eq 1 ]
		[ "$(jget events 'by("failed")[0]["error"]["message"]')" = \
			"'$PWD/film/$name' is a symbolic link; refusing to write through it" ]
		[ -z "$(ls -A elsewhere/vdir)" ]
		[ "$(cat elsewhere/file)" = precious ]
		[ "$(beside film)" = "$before" ]
	done
	# A thumbnails folder that is a file, and a film that is a folder, are refused too.
	rm -rf film/*
	touch film/F-thumbs
	run --separate-stderr filmeto-run -o "$PWD/film/F.mp4" task.json
	echo "$output" >events
	[ "$(jget events 'by("failed")[0]["error"]["message"]')" = \
		"'$PWD/film/F-thumbs' is a regular file, not a directory; refusing to write into it" ]
	rm -rf film/*
	mkdir film/F.mp4
	run --separate-stderr filmeto-run -o "$PWD/film/F.mp4" task.json
	echo "$output" >events
	[ "$(jget events 'by("failed")[0]["error"]["message"]')" = \
		"'$PWD/film/F.mp4' is a directory, not a regular file; refusing to replace it" ]
	[ "$(beside film)" = "F.mp4/" ]
}

@test "a film that fails as its files are put in place leaves the last good film and its files as they were" {
	film F "a=$M/a.mp4,text=Hello" "b=$M/big.mp4,transition=crossfade" "c=$M/c.mp4" >task.json
	mkdir film
	filmeto-run -o "$PWD/film/F.mp4" task.json >events
	[ "$(jget events 'by("completed")[0]["task_id"]')" = F ]
	cp -a film good
	# Another film by that name, with a folder planted where its sidecar goes once it has begun.
	film F "c=$M/c.mp4,text=Bye" "a=$M/a.mp4" "b=$M/big.mp4,transition=crossfade" >task2.json
	mkfifo feed
	filmeto-run -o "$PWD/film/F.mp4" feed >events &
	pid=$!
	exec {w}>feed
	cat task2.json >&$w
	exec {w}>&-
	for _ in $(seq 200); do grep -q '"stage":"mix"' events 2>/dev/null && break; sleep 0.02; done
	rm film/F.json
	mkdir film/F.json
	rc=0
	wait $pid || rc=$?
	[ "$rc" -eq 1 ]
	jget events 'by("failed")[0]["error"]["message"]' | grep -F "'$PWD/film/F.json'"
	# Everything else beside -o is the last good film's, byte for byte; nothing is new.
	rmdir film/F.json
	rm good/F.json
	diff -r good film
	[ -z "$(find . -name '.filmeto-combine-*' -o -name '*.part' -o -name '*.tmp*')" ]
}
