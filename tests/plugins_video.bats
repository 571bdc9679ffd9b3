#!/usr/bin/env bats
# The bundled video plugins, kenburns (image2video) and waveform
# (speak2video): real pipelines, real media, inspected with ffprobe.

load test_helper

setup_file() {
	# Inputs shared by every test; made once, read only.
	cd "$BATS_FILE_TMPDIR"
	ffmpeg -v error -f lavfi -i testsrc2=s=480x360 -f lavfi -i smptehdbars=s=640x360 \
		-f lavfi -i 'sine=f=220:d=1.3' \
		-map 0:v -frames:v 1 a.png -map 1:v -frames:v 1 b.png -map 2:a -ac 1 voice.wav
	head -c 4096 /dev/urandom > corrupt.png
}

setup() {
	common_setup
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
	IN="$BATS_FILE_TMPDIR"
}

# probe_all FILE: FILE's streams, frames counted, one line each in probe.out.
probe_all() {
	ffprobe -v error -count_frames -show_data_hash MD5 -show_entries \
		stream=codec_type,codec_name,profile,level,width,height,pix_fmt,sample_aspect_ratio,time_base,r_frame_rate,sample_rate,channels,duration,nb_read_frames,extradata_hash \
		-of compact=p=0 "$1" > probe.out
}

# val TYPE KEY: a field of the last probe's stream of TYPE (video, audio).
val() {
	grep "codec_type=$1" probe.out | tr '|' '\n' | sed -n "s/^$2=//p"
}

# The fields that must match for clips to concatenate by stream copy.
codec_params() {
	grep codec_type=video probe.out | tr '|' '\n' | grep -Ev '^(duration|nb_read_frames)='
}

# frames CLIP: decodes CLIP into CLIP.md5 (framemd5 lines) and CLIP.err.
frames() {
	ffmpeg -v error -i "$1" -f framemd5 - 2> "$1.err" | grep -v '^#' > "$1.md5"
}

# moved CLIP N: whether the first and the last (Nth) frame of CLIP differ
# by more than compression noise, in mean absolute grey level.
moved() {
	ffmpeg -v error -i "$1" -vf "select='eq(n,0)+eq(n,$2-1)',scale=64:36,format=gray" \
		-fps_mode passthrough -f rawvideo - | python3 -c '
import sys
d = sys.stdin.buffer.read()
n = len(d) // 2
sys.exit(not (n and sum(abs(a - b) for a, b in zip(d[:n], d[n:])) / n > 3))'
}

# kenburns ID IMAGE [-p K=V]...: a task for a small clip, as a line.
kenburns() {
	local id=$1 img=$2
	shift 2
	filmeto-submit -t image2video -P kenburns -r "$img" -p width=320 -p height=180 \
		-p duration=1 "$@" -i "$id"
}

@test "kenburns: an H.264 clip of exactly round(duration * fps) frames, no audio" {
	kenburns kb "$IN/a.png" -p duration=1.5 -p fps=30 | filmeto-run -d out > events
	clip="$BATS_TEST_TMPDIR/out/kb/clip.mp4"
	[ "$(jget events 'by("completed")[0]["output_files"]')" = "[\"$clip\"]" ]
	[ "$(jget events 'len(by("progress")) >= 2')" = true ]
	probe_all "$clip"
	[ "$(val video codec_name)" = h264 ]
	[ "$(val video pix_fmt)" = yuv420p ]
	[ "$(val video width)x$(val video height)" = 320x180 ]
	[ "$(val video r_frame_rate)" = 30/1 ]
	[ "$(val video nb_read_frames)" = 45 ]
	[ "$(wc -l < probe.out)" -eq 1 ]
	frames "$clip"
	[ ! -s "$clip.err" ]
	[ "$(wc -l < "$clip.md5")" -eq 45 ]
}

@test "kenburns: 29.97 fps is the NTSC rate 30000/1001" {
	kenburns ntsc "$IN/a.png" -p fps=29.97 | filmeto-run -d out > events
	probe_all out/ntsc/clip.mp4
	[ "$(val video r_frame_rate)" = 30000/1001 ]
	[ "$(val video nb_read_frames)" = 30 ]
}

@test "kenburns: clips of different images have the same codec parameters and stream-copy into one" {
	{ kenburns one "$IN/a.png" -p motion=in; kenburns two "$IN/b.png" -p motion=left; } \
		| filmeto-run -d out > events
	probe_all out/one/clip.mp4
	codec_params > one.params
	probe_all out/two/clip.mp4
	codec_params > two.params
	grep -q extradata_hash=MD5: one.params
	diff one.params two.params
	printf "file '%s'\n" "$PWD/out/one/clip.mp4" "$PWD/out/two/clip.mp4" > list
	ffmpeg -v error -f concat -safe 0 -i list -c copy joined.mp4
	frames joined.mp4
	[ ! -s joined.mp4.err ]
	[ "$(wc -l < joined.mp4.md5)" -eq 50 ]
}

@test "kenburns: motion=auto gives the same frames twice, and every motion moves the picture" {
	{
		kenburns r1 "$IN/b.png"
		kenburns r2 "$IN/b.png"
		for m in in out left right up down; do
			kenburns "m-$m" "$IN/a.png" -p motion="$m" -p duration=0.4
		done
	} | filmeto-run -j2 -d out > events
	[ "$(jget events 'len(by("completed"))')" = 8 ]
	frames out/r1/clip.mp4
	frames out/r2/clip.mp4
	[ ! -s out/r1/clip.mp4.err ]
	[ "$(wc -l < out/r1/clip.mp4.md5)" -eq 25 ]
	cmp out/r1/clip.mp4.md5 out/r2/clip.mp4.md5
	moved out/r1/clip.mp4 25
	for m in in out left right up down; do
		moved "out/m-$m/clip.mp4" 10
	done
	# and a still stays still: the check above sees motion, not noise
	kenburns still "$IN/a.png" -p motion=left -p zoom=1 -p duration=0.4 | filmeto-run -d out > events
	run ! moved out/still/clip.mp4 10
}

@test "kenburns: an image whose name has quotes, colons and commas" {
	cp "$IN/a.png" "it's a:b, c [1];d=e.png"
	kenburns q "$PWD/it's a:b, c [1];d=e.png" -p duration=0.2 | filmeto-run -d out > events
	[ "$(jget events 'by("completed")[0]["task_id"]')" = q ]
	[ -s out/q/clip.mp4 ]
}

@test "kenburns: a corrupt image fails with RESOURCE_PROCESSING_ERROR naming the file" {
	kenburns bad "$IN/corrupt.png" | { run filmeto-run -d out; echo "$output" > events; [ "$status" -eq 1 ]; }
	[ "$(jget events 'by("failed")[0]["error"]["code"]')" = RESOURCE_PROCESSING_ERROR ]
	[[ "$(jget events 'by("failed")[0]["error"]["message"]')" == *"'$IN/corrupt.png'"* ]]
	[ -z "$(ls -A out/bad 2>/dev/null)" ]
}

@test "kenburns: an odd size or a task without an image is a VALIDATION_ERROR" {
	{
		kenburns odd "$IN/a.png" -p width=321
		kenburns noimg "$IN/voice.wav"
	} | { run filmeto-run -d out; echo "$output" > events; [ "$status" -eq 1 ]; }
	[ "$(jget events 'sorted(l["task_id"] + " " + l["error"]["code"] for l in by("failed"))')" = '["noimg VALIDATION_ERROR", "odd VALIDATION_ERROR"]' ]
	[[ "$(jget events '[l for l in by("failed") if l["task_id"] == "odd"][0]["error"]["message"]')" == *width* ]]
	[[ "$(jget events '[l for l in by("failed") if l["task_id"] == "noimg"][0]["error"]["message"]')" == *image* ]]
}

@test "waveform: image and narration become H.264 + AAC of the narration's length" {
	{
		filmeto-submit -t speak2video -P waveform -r "$IN/a.png" -r "$IN/voice.wav" \
			-p width=320 -p height=180 -i wf
		kenburns kb "$IN/b.png"
	} | filmeto-run -d out > events
	[ "$(jget events 'len(by("completed"))')" = 2 ]
	clip=out/wf/clip.mp4
	probe_all "$clip"
	[ "$(val video codec_name) $(val video width)x$(val video height) $(val video pix_fmt)" = "h264 320x180 yuv420p" ]
	[ "$(val audio codec_name) $(val audio sample_rate) $(val audio channels)" = "aac 48000 2" ]
	python3 -c "import sys; a, v = $(val audio duration), $(val video duration); sys.exit(not (abs(a - 1.3) < 0.01 and abs(v - a) <= 1 / 25))"
	frames "$clip"
	[ ! -s "$clip.err" ]
	# the same video encoding as kenburns, so a film of both stream-copies
	codec_params > wf.params
	probe_all out/kb/clip.mp4
	codec_params > kb.params
	diff wf.params kb.params
}

@test "waveform: duration pads the narration with silence; no image gives a plain background" {
	filmeto-submit -t speak2video -P waveform -r "$IN/voice.wav" -p duration=2 -p fps=24 \
		-p width=320 -p height=180 -p background=red -i pad | filmeto-run -d out > events
	clip=out/pad/clip.mp4
	probe_all "$clip"
	[ "$(val audio duration)" = 2.000000 ]
	[ "$(val video nb_read_frames)" = 48 ]
	# the top left corner is the background colour
	rgb=$(ffmpeg -v error -i "$clip" -frames:v 1 -vf crop=8:8:0:0,scale=1:1 -f rawvideo -pix_fmt rgb24 - | od -An -tu1)
	read -r r g b <<< "$rgb"
	[ "$r" -gt 200 ]
	[ "$g" -lt 50 ]
	[ "$b" -lt 50 ]
}

@test "waveform: a corrupt narration or image fails naming the file" {
	head -c 4096 /dev/urandom > bad.wav
	{
		filmeto-submit -t speak2video -P waveform -r bad.wav -i badaudio
		filmeto-submit -t speak2video -P waveform -r "$IN/corrupt.png" -r "$IN/voice.wav" -i badimage
	} | { run filmeto-run -d out; echo "$output" > events; [ "$status" -eq 1 ]; }
	[ "$(jget events 'sorted(l["task_id"] + " " + l["error"]["code"] for l in by("failed"))')" = '["badaudio RESOURCE_PROCESSING_ERROR", "badimage RESOURCE_PROCESSING_ERROR"]' ]
	[[ "$(jget events '[l for l in by("failed") if l["task_id"] == "badaudio"][0]["error"]["message"]')" == *"'$PWD/bad.wav'"* ]]
	[[ "$(jget events '[l for l in by("failed") if l["task_id"] == "badimage"][0]["error"]["message"]')" == *"'$IN/corrupt.png'"* ]]
}
