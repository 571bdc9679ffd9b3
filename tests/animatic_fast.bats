#!/usr/bin/env bats
# The animatic made faster (issue 21): kenburns resamples each frame at
# the camera's exact position, so slow motion is smooth and no larger
# picture is made per frame; the storyboard's music is made while the
# scenes are. What a viewer sees stays: sizes, frame counts, durations,
# chapters, the window of the still each frame shows.

load test_helper

setup_file() {
	# Inputs made once, read only: a white bar on black, to follow, and
	# a detailed still larger than the clips, to compare frames with.
	cd "$BATS_FILE_TMPDIR"
	ffmpeg -v error -f lavfi -i color=c=black:s=320x180 \
		-vf drawbox=x=56:y=0:w=16:h=180:color=white:t=fill -frames:v 1 bar.png
	ffmpeg -v error -f lavfi -i testsrc2=s=480x360 -frames:v 1 big.png
}

setup() {
	common_setup
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
	IN="$BATS_FILE_TMPDIR"
}

# kenburns ID IMAGE [-p K=V]...: a 320x180 clip task, as a line.
kenburns() {
	local id=$1 img=$2
	shift 2
	filmeto-submit -t image2video -P kenburns -r "$img" -p width=320 -p height=180 "$@" -i "$id"
}

# ssim A B: the SSIM of two pictures of one size, "0.97..."
ssim() {
	ffmpeg -v info -i "$1" -i "$2" -lavfi '[0][1]ssim' -f null - 2>&1 |
		sed -n 's/.*All:\([0-9.]*\).*/\1/p'
}

@test "kenburns: a slow zoom moves the picture a little every frame, never a step now and then" {
	kenburns bar "$IN/bar.png" -p motion=in -p zoom=1.2 -p duration=2 | filmeto-run -d out > events
	[ "$(jget events 'by("completed")[0]["status"]')" = success ]
	# The bar's centre in the middle row of every frame, to 1/100 pixel.
	ffmpeg -v error -i out/bar/clip.mp4 -vf 'format=gray,crop=iw:1:0:ih/2' -f rawvideo - |
		python3 -c '
import sys
d = sys.stdin.buffer.read()
rows = [d[i:i + 320] for i in range(0, len(d), 320)]
assert len(rows) == 50, len(rows)
xs = []
for r in rows:
    w = [max(0, v - 20) for v in r[:160]]
    xs.append(sum(i * v for i, v in enumerate(w)) / sum(w))
steps = [b - a for a, b in zip(xs, xs[1:])]
mean = sum(steps) / len(steps)
# zoom 1 to 1.2 about x=160 moves the bar centre at x=64 out by 19.2 px
print("first %.2f last %.2f step %.3f, off by at most %.3f" %
      (xs[0], xs[-1], mean, max(abs(s - mean) for s in steps)))
assert abs(xs[0] - 63.5) < 0.3 and abs(xs[-1] - (160 - 96.5 * 1.2)) < 0.3
assert all(s < 0 for s in steps), "the bar stood still or went back"
# whole-pixel crops (zoompan) step 0 or 1 pixel, at twice the size 0 or
# 1/2 (0.75 off here); the encoder alone wobbles about 0.1
assert max(abs(s - mean) for s in steps) < 0.2, "the motion jitters"
' > track.out
	cat track.out
}

@test "kenburns: the first and last frames show the still's window at zoom 1 and at the zoom asked" {
	# 480x360 is cropped to 480x270 (16:9); at zoom 1.2 the centre 400x225 shows.
	kenburns big "$IN/big.png" -p motion=in -p zoom=1.2 -p duration=1 | filmeto-run -d out > events
	ffprobe -v error -count_frames -show_entries stream=width,height,nb_read_frames,pix_fmt \
		-of csv=p=0 out/big/clip.mp4 > probe.out
	[ "$(cat probe.out)" = "320,180,yuv420p,25" ]
	ffmpeg -v error -i out/big/clip.mp4 -vf "select='eq(n,0)'" -frames:v 1 first.png
	ffmpeg -v error -i out/big/clip.mp4 -vf "select='eq(n,24)'" -frames:v 1 last.png
	ffmpeg -v error -i "$IN/big.png" -vf crop=480:270:0:45,scale=320:180 want-first.png
	ffmpeg -v error -i "$IN/big.png" -vf crop=400:225:40:67,scale=320:180 want-last.png
	echo "first $(ssim first.png want-first.png) last $(ssim last.png want-last.png)" \
		"(first against last: $(ssim first.png want-last.png))"
	awk -v a="$(ssim first.png want-first.png)" -v b="$(ssim last.png want-last.png)" \
		-v c="$(ssim first.png want-last.png)" 'BEGIN { exit !(a > 0.85 && b > 0.85 && c < 0.75) }'
}

@test "kenburns: a still smaller than the clip, and a pan, fill the frame with the clip's frame count" {
	ffmpeg -v error -f lavfi -i testsrc2=s=160x90 -frames:v 1 small.png
	{
		kenburns small "$PWD/small.png" -p motion=out -p duration=0.4
		kenburns pan "$IN/big.png" -p motion=left -p zoom=3 -p duration=0.4
	} | filmeto-run -d out > events
	[ "$(jget events 'sorted(l["status"] for l in by("completed"))')" = '["success", "success"]' ]
	for c in small pan; do
		run ffprobe -v error -count_frames -show_entries stream=width,height,nb_read_frames \
			-of csv=p=0 "out/$c/clip.mp4"
		[ "$output" = "320,180,10" ]
	done
}

@test "kenburns: a still far from the clip's shape, whose crop rounds under a pixel, still fills the clip" {
	ffmpeg -v error -f lavfi -i color=c=red:s=17x5 -frames:v 1 wide.png
	ffmpeg -v error -f lavfi -i color=c=blue:s=16x16 -vf scale=1:1 -frames:v 1 dot.png
	{
		kenburns wide "$PWD/wide.png" -p width=1024 -p height=16 -p zoom=3 -p motion=right -p duration=0.2
		kenburns dot "$PWD/dot.png" -p width=16 -p height=1024 -p duration=0.2
	} | filmeto-run -d out > events
	[ "$(jget events 'sorted(l["status"] for l in by("completed"))')" = '["success", "success"]' ]
	run ffprobe -v error -show_entries stream=width,height -of csv=p=0 out/wide/clip.mp4
	[ "$output" = "1024,16" ]
	run ffprobe -v error -show_entries stream=width,height -of csv=p=0 out/dot/clip.mp4
	[ "$output" = "16,1024" ]
}

@test "a storyboard's music is made first, and the film keeps its size, length and chapters" {
	cat > board.yaml <<'EOF'
title: Fast
size: 320x180
music: "calm"
scenes:
  - {id: a, prompt: "One", narration: "One.", duration: 1}
  - {id: b, prompt: "Two", narration: "Two.", duration: 2}
EOF
	filmeto-submit --storyboard board.yaml > tasks
	[ "$(jget tasks 'by("task")[0]["task_id"]')" = board-music ]
	filmeto-run -j2 -o film.mp4 < tasks > events
	[ "$(jget events 'by("completed")[-1]["task_id"]')" = board-film ]
	# the music started first, before any scene's task
	[ "$(jget events 'by("started")[0]["task_id"]')" = board-music ]
	run ffprobe -v error -count_frames -select_streams v \
		-show_entries stream=width,height,nb_read_frames -of csv=p=0 film.mp4
	[ "$output" = "320,180,75" ]
	run ffprobe -v error -show_entries chapter=start_time,end_time -of csv=p=0 film.mp4
	[ "${lines[*]}" = "0.000000,1.000000 1.000000,3.000000" ]
}
