#!/bin/sh
# shellcheck source-path=SCRIPTDIR/..
# A storyboard to a finished animatic, end to end, measured in one run:
#   1. full render: filmeto-submit --storyboard | filmeto-run -o with the
#      bundled plugins (titlecard, kenburns, espeak, synth) and an empty
#      output cache, against the shell script a competent user would write
#      with the ffmpeg and espeak-ng CLIs: per scene a title card (drawtext),
#      a Ken Burns clip (zoompan, libx264 veryfast crf 20) and the narration
#      (espeak-ng -w), a music bed, all run with xargs -P$(nproc); then one
#      ffmpeg that concatenates the clips (-c:v copy) and mixes narration
#      over the ducked music (sidechaincompress, amix, loudnorm);
#   2. rerun after one scene's narration changed: the same pipeline with
#      the same cache, against the full render.
# Ten scenes of 4 s at 1280x720, 25 fps, all cuts. Wall time is noisy on
# a shared machine, so the CPU time (user + sys) of each side is given too.
set -eu
N=${N:-1} # rounds (full, rerun, shell); the median of each is reported
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PATH="$ROOT/cmd:$PATH"
FONT=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
JOBS=$(nproc)
work=$(mktemp -d "${TMPDIR:-/tmp}/filmeto-bench-animatic.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
cd "$work"
# Only the bundled plugins, no user config: the default offline pipeline.
export FILMETO_PLUGIN_PATH="$ROOT/plugins"
export XDG_CONFIG_HOME="$work/config" XDG_DATA_HOME="$work/data"
# SCENES, SECS, prompt, narration and board: the storyboard
# shellcheck source=bench/animatic.board
. "$ROOT/bench/animatic.board"

now() { date +%s%N; }

# cpu FILE: the user + sys CPU this shell's children used so far, into
# FILE; "times" must run in this shell itself, as a subshell counts its own
cpu() { times > "$work/$1"; }

# cpu_used BEFORE AFTER: microseconds of CPU between two cpu FILEs
cpu_used() {
	cat "$work/$1" "$work/$2" | awk 'NR % 2 == 0 { t = 0
		for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] }
		v[NR] = t } END { printf "%d\n", (v[4] - v[2]) * 1e6 }'
}

median() { sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

die() { echo "animatic.sh: $*" >&2; exit 1; }

for tool in text2image image2video text2speak text2music; do
	filmeto-plugin list | awk -v t="$tool" '$3 == t { f = 1 } END { exit !f }' ||
		die "no bundled plugin serves $tool in $ROOT/plugins (run make first)"
done

# filmeto_render EVENTS: the pipeline a user runs; checks the film is made
filmeto_render() {
	filmeto-submit --storyboard board.yaml | filmeto-run -j"$JOBS" -o "$work/film.mp4" \
		> "$1" || { grep -E '"(failed|log)"' "$1" | tail -n 5 >&2; die "filmeto render failed"; }
	grep '"task_id":"board-film"' "$1" | tail -n 1 | grep -q '"type":"completed"' ||
		die "the film did not complete"
	[ -s "$work/film.mp4" ] || die "no film.mp4"
}

# stages EVENTS TASK: seconds from each stage's first progress line of
# TASK to the next stage's (the last runs to the completed line)
stages() {
	grep "\"task_id\":\"$2\"" "$1" | awk -f "$ROOT/bench/stages.awk"
}

cached() { # EVENTS: "HITS of TASKS"
	awk '/"type":"completed"/ { n++; if (/"cached":true/) c++ }
		END { printf "%d of %d", c, n }' "$1"
}

# --- the shell script a user would write -----------------------------------
have_espeak=0
command -v espeak-ng >/dev/null && have_espeak=1

cat > job.sh <<'EOF'
# job.sh WORK FONT SECS TOTAL JOB: one scene's card, clip and narration, or the music
set -eu
cd "$1"
font=$2 secs=$3 total=$4 i=$5
frames=$((secs * 25))
if [ "$i" = music ]; then
	ffmpeg -v error -nostdin -y -f lavfi -i "aevalsrc=0.2*sin(2*PI*220*t)+0.15*sin(2*PI*277.18*t)+0.15*sin(2*PI*329.63*t)+0.1*sin(2*PI*110*t)*(0.6+0.4*sin(2*PI*t)):s=48000:c=stereo:d=$total" \
		-af "afade=t=in:d=2,afade=t=out:st=$((total - 3)):d=3" sh-music.wav
	exit 0
fi
ffmpeg -v error -nostdin -y -f lavfi -i "color=c=0x101828:s=1280x720:d=1" \
	-vf "drawtext=fontfile=$font:textfile=prompt$i.txt:fontsize=64:fontcolor=white:x=(w-text_w)/2:y=(h-text_h)/2" \
	-frames:v 1 "sh-card$i.png"
ffmpeg -v error -nostdin -y -i "sh-card$i.png" \
	-vf "zoompan=z='1+0.2*on/$frames':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':d=$frames:s=1280x720:fps=25" \
	-frames:v $frames -c:v libx264 -preset veryfast -crf 20 -pix_fmt yuv420p -g 50 "sh-clip$i.mp4"
espeak-ng -w "sh-narr$i.wav" "$(cat "narration$i.txt")"
EOF

shell_render() {
	total=$((SCENES * SECS))
	{ echo music; seq $SCENES; } | xargs -P"$JOBS" -n1 sh job.sh "$work" "$FONT" $SECS $total
	set -- -f concat -safe 0 -i sh-clips.txt
	graph='' mix=''
	i=1
	while [ $i -le $SCENES ]; do
		set -- "$@" -i "sh-narr$i.wav"
		graph="${graph}[$i:a]aresample=48000,aformat=channel_layouts=stereo,"
		graph="${graph}adelay=delays=$(((i - 1) * SECS * 1000)):all=1[n$i];"
		mix="${mix}[n$i]"
		i=$((i + 1))
	done
	set -- "$@" -i sh-music.wav
	graph="${graph}${mix}amix=inputs=$SCENES:duration=longest:normalize=0,"
	graph="${graph}apad,atrim=duration=$total,asplit=2[narr][key];"
	graph="${graph}[$i:a]aresample=48000,volume=-12dB,atrim=duration=${total}[bed];"
	graph="${graph}[bed][key]sidechaincompress=threshold=0.02:ratio=8:attack=20:release=400[duck];"
	graph="${graph}[narr][duck]amix=inputs=2:duration=first:normalize=0,"
	graph="${graph}loudnorm=I=-16:TP=-1.5:LRA=11,aresample=48000[a]"
	ffmpeg -v error -nostdin -y "$@" -filter_complex "$graph" -map 0:v -map '[a]' \
		-c:v copy -c:a aac -b:a 160k -ar 48000 -t $total sh-film.mp4
}

i=1
: > sh-clips.txt
while [ $i -le $SCENES ]; do
	prompt $i > "prompt$i.txt"
	narration $i | tr -d '\n' > "narration$i.txt"
	echo "file '$work/sh-clip$i.mp4'" >> sh-clips.txt
	i=$((i + 1))
done

# --- the rounds ------------------------------------------------------------
: > full.times; : > rerun.times; : > shell.times; : > full.cpu; : > shell.cpu
k=0
while [ $k -lt "$N" ]; do
	export XDG_CACHE_HOME="$work/cache$k"
	board > board.yaml
	cpu c0; t0=$(now); filmeto_render full.ev; t1=$(now); cpu c1
	echo $(( (t1 - t0) / 1000 )) >> full.times
	cpu_used c0 c1 >> full.cpu
	board "The storm will break before midnight." > board.yaml
	t0=$(now); filmeto_render rerun.ev; t1=$(now)
	echo $(( (t1 - t0) / 1000 )) >> rerun.times
	grep '"task_id":"board-s05-narration"' rerun.ev | grep '"type":"completed"' |
		grep -vq '"cached":true' || die "the changed narration was not made again"
	rm -rf "$XDG_CACHE_HOME" filmeto-out
	if [ $have_espeak = 1 ]; then
		rm -f sh-*.png sh-*.mp4 sh-*.wav
		cpu c0; t0=$(now); shell_render; t1=$(now); cpu c1
		echo $(( (t1 - t0) / 1000 )) >> shell.times
		cpu_used c0 c1 >> shell.cpu
		[ -s sh-film.mp4 ] || die "the shell script made no film"
	fi
	k=$((k + 1))
done

full=$(median < full.times)
rerun=$(median < rerun.times)
awk -v n="$N" -v f="$full" -v r="$rerun" -v j="$JOBS" -v c="$(cached rerun.ev)" \
	-v st="$(stages rerun.ev board-film)" -v u="$(median < full.cpu)" \
	-v sz="$(wc -c < film.mp4)" 'BEGIN {
	printf "animatic: filmeto-submit | filmeto-run -j%d  median %6.2f s  (%d rounds, 10 x 4 s 1280x720)\n", j, f / 1e6, n
	printf "animatic: filmeto CPU (user+sys)             median %6.2f s  (film %d bytes)\n", u / 1e6, sz
	printf "animatic: rerun, scene 5 narration changed    median %6.2f s  (%s tasks from the cache)\n", r / 1e6, c
	printf "animatic: rerun combine stages: %s\n", st
	printf "animatic: ratio rerun/full = %.2f (target: <= 0.2)\n", r / f
}'
if [ $have_espeak = 1 ]; then
	shell=$(median < shell.times)
	awk -v f="$full" -v s="$shell" -v j="$JOBS" -v fu="$(median < full.cpu)" \
		-v su="$(median < shell.cpu)" -v sz="$(wc -c < sh-film.mp4)" 'BEGIN {
		printf "animatic: ffmpeg + espeak-ng, xargs -P%d       median %6.2f s\n", j, s / 1e6
		printf "animatic: script CPU (user+sys)              median %6.2f s  (film %d bytes)\n", su / 1e6, sz
		printf "animatic: CPU ratio filmeto/shell = %.2f\n", fu / su
		printf "animatic: ratio filmeto/shell = %.2f (target: <= 0.6)\n", f / s
	}'
else
	echo "animatic: espeak-ng CLI not found; shell comparison skipped (install espeak-ng to run it)"
fi
