#!/bin/sh
# filmeto-run's built-in combine, measured in one run against the ffmpeg
# command a user would write instead, on the same files:
#   1. uniform: 10 scenes of 10 s, 1280x720 25 fps, made as a user's
#      camera or generator makes them (libx264 at its default GOP and
#      B-frames, AAC at ffmpeg's defaults, speech-like sound: band-limited
#      noise in syllables and pauses), against ffmpeg's concat demuxer
#      with -c:v copy -c:a aac; twice: clips mastered near the film's
#      loudness (-16 LUFS: the sound may be copied, but the scenes' cuts
#      fall mid-syllable, where copied AAC would not join cleanly), clips
#      8 dB quieter (the sound must be normalized and encoded), and clips
#      near -16 LUFS that begin and end in a pause, as narrated scenes do
#      (the sound is copied);
#   2. re-encode: 10 mixed scenes of 4 s (1280x720@25 and 640x360@30,
#      audio at 44.1 or 48 kHz or none), against one ffmpeg -filter_complex
#      (scale+pad, fps, format, setsar, aresample, concat) with combine's
#      encoder settings;
#   3. memory (MEMORY=1; some minutes): 60 minutes in 60 uniform scenes,
#      peak RSS of filmeto-run against the same ffmpeg concat.
# combine does more than either ffmpeg command (loudness measured and
# normalized, music ducking, chapters, .srt, .json, thumbnails, contact
# sheet); the ratios count that against it, as a user would. Wall times
# are medians of alternating runs; user+sys CPU medians beside them.
set -eu
N=${N:-3} # runs of each, alternating; the median is reported
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PATH="$ROOT/cmd:$PATH"
[ -x /usr/bin/time ] || { echo "combine.sh: needs GNU time (/usr/bin/time)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/filmeto-bench-combine.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
cd "$work"
export XDG_CACHE_HOME="$work/cache"

now() { date +%s%N; }

median() { sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

die() { echo "combine.sh: $*" >&2; exit 1; }

# clip FILE SIZE RATE SECONDS AUDIO_RATE|none [SOURCE]: H.264 (and AAC)
# encoded alike, so clips of the same size and rate can be stream copied
clip() {
	if [ "$5" = none ]; then
		set -- "$1" "$2" "$3" "$4" "${6:-testsrc2}" -an
	else
		set -- "$1" "$2" "$3" "$4" "${6:-testsrc2}" -f lavfi -i "sine=f=330:r=$5:d=$4" \
			-map 0:v -map 1:a -ac 2 -c:a aac -b:a 160k
	fi
	out=$1 size=$2 rate=$3 secs=$4 src=$5
	shift 5
	case $src in *=*) src="$src:" ;; *) src="$src=" ;; esac
	ffmpeg -v error -nostdin -y -f lavfi -i "${src}s=$size:r=$rate:d=$secs" "$@" \
		-c:v libx264 -preset veryfast -crf 20 -pix_fmt yuv420p -g $((rate * 2)) "$out"
}

# task ID SECONDS "FILE...": a combine task line, one scene per file
task() {
	awk -v id="$1" -v secs="$2" -v files="$3" 'BEGIN {
		n = split(files, f, " ")
		printf "{\"type\":\"task\",\"task_id\":\"%s\",\"tool_name\":\"combine\",", id
		printf "\"parameters\":{\"title\":\"bench\",\"width\":1280,\"height\":720,\"fps\":25,\"scenes\":["
		for (i = 1; i <= n; i++)
			printf "%s{\"id\":\"s%d\",\"duration\":%s,\"title\":\"Scene %d\",\"text\":\"\"}",
				(i > 1 ? "," : ""), i, secs, i
		printf "]},\"resources\":["
		for (i = 1; i <= n; i++)
			printf "%s{\"type\":\"local_path\",\"data\":\"%s\",\"metadata\":{\"scene\":\"s%d\",\"role\":\"video\"}}",
				(i > 1 ? "," : ""), f[i], i
		printf "]}\n"
	}'
}

# check_path EVENTS copy|reencode
check_path() {
	tail -n 1 "$1" | grep -q '"type":"completed"' || {
		tail -n 5 "$1" >&2; die "combine did not complete"; }
	tail -n 1 "$1" | grep -q "\"path\":\"$2\"" || {
		tail -n 1 "$1" >&2; die "combine did not take the $2 path"; }
}

# audio_path EVENTS: the audio path the film took and why ("reencode" alone before it said why)
audio_path() {
	tail -n 1 "$1" | sed -n 's/.*"audio":"\([a-z]*\)".*/\1/p' | head -n 1 | tr -d '\n'
	tail -n 1 "$1" | sed -n 's/.*"audio_reason":"\([^"]*\)".*/ (\1)/p'
}

# breakdown EVENTS: seconds from each stage's first progress line to the
# next stage's (the last runs to the completed line)
breakdown() {
	awk -f "$ROOT/bench/stages.awk" "$1"
}

# timed NAME COMMAND: runs COMMAND (a function and its words), appends
# "wall_us cpu_s" (user+sys of the processes it ran) to NAME.times; times,
# not in a subshell, sees them
timed() {
	times > "$work/times0"
	t0=$(now)
	$2 # a command and its words, split on purpose
	t1=$(now)
	times > "$work/times1"
	echo "$(( (t1 - t0) / 1000 )) $(cat "$work/times0" "$work/times1" | awk '
		function s(x) { split(x, p, "m"); return p[1] * 60 + p[2] }
		NR == 2 { a = s($1) + s($2) } NR == 4 { b = s($1) + s($2) }
		END { print b - a }')" >> "$1.times"
}

# alternate the two so drift in the machine hits both alike
# measure NAME_A NAME_B FUNC_A FUNC_B
measure() {
	: > "$1.times"; : > "$2.times"
	k=0
	while [ $k -lt "$N" ]; do
		timed "$1" "$3"
		timed "$2" "$4"
		k=$((k + 1))
	done
}

# wall NAME / cpu NAME: medians of NAME.times
wall() { awk '{print $1}' "$1.times" | median; }
cpu() { awk '{print $2}' "$1.times" | median; }

# --- 1. uniform clips ------------------------------------------------------
# speech FILE SECONDS SEED [PAUSED]: syllables at about 4 Hz in phrases of
# 1.8 s with pauses between, pink noise band-limited to a voice's, in
# stereo at 48 kHz; about -16 LUFS. Each clip starts at another point of
# a phrase; PAUSED, it starts and ends with 0.3 s of room tone instead.
speech() {
	voice="if(lt(mod(t+0.$3,2.3),1.8),0.6+0.4*sin(2*PI*4*t),0.03)"
	[ -n "${4:-}" ] && voice="if(between(t,0.3,$2-0.3),$voice,0.0005)"
	ffmpeg -v error -nostdin -y -f lavfi -i "anoisesrc=c=pink:r=48000:a=0.5:d=$2:seed=$3" \
		-af "highpass=f=150,lowpass=f=4000,volume='$voice':eval=frame,volume=12.3dB" \
		-ac 2 -c:a pcm_s16le "$1"
}

# uclip FILE SECONDS SEED: a 1280x720 25 fps clip with speech, at libx264's
# and ffmpeg's AAC defaults but for a faster preset (GOP 250, B-frames)
uclip() {
	speech "$work/speech.wav" "$2" "$3"
	ffmpeg -v error -nostdin -y -f lavfi -i "testsrc2=s=1280x720:r=25:d=$2" \
		-i "$work/speech.wav" -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac \
		-shortest "$1"
}

i=1 loud='' quiet='' paused=''
: > loud.txt; : > quiet.txt; : > paused.txt
while [ $i -le 10 ]; do
	uclip "$work/u$i.mp4" 10 $i
	# the same pictures, the sound 8 dB quieter: a camera's own level
	ffmpeg -v error -nostdin -y -i "$work/u$i.mp4" -c:v copy -af volume=-8dB -c:a aac \
		"$work/q$i.mp4"
	# the same pictures, narrated: a pause at either end
	speech "$work/speech.wav" 10 $i paused
	ffmpeg -v error -nostdin -y -i "$work/u$i.mp4" -i "$work/speech.wav" -map 0:v -map 1:a \
		-c:v copy -c:a aac -shortest "$work/p$i.mp4"
	echo "file '$work/u$i.mp4'" >> loud.txt
	echo "file '$work/q$i.mp4'" >> quiet.txt
	echo "file '$work/p$i.mp4'" >> paused.txt
	loud="$loud $work/u$i.mp4" quiet="$quiet $work/q$i.mp4" paused="$paused $work/p$i.mp4"
	i=$((i + 1))
done
task loud 10 "$loud" > loud.json
task quiet 10 "$quiet" > quiet.json
task paused 10 "$paused" > paused.json

# filmeto_set SET / ffmpeg_set SET: the set's clips through combine, and
# through the ffmpeg command.
filmeto_set() {
	filmeto-run --no-cache -d "$work/out" -o "$work/$1-filmeto.mp4" \
		< "$1.json" > "$1.ev" || { tail -n 5 "$1.ev" >&2; die "filmeto-run failed"; }
	check_path "$1.ev" copy
}
ffmpeg_set() {
	ffmpeg -v error -nostdin -y -f concat -safe 0 -i "$1.txt" -c:v copy -c:a aac \
		"$1-ffmpeg.mp4"
}

measure loudf loudg "filmeto_set loud" "ffmpeg_set loud"
measure quietf quietg "filmeto_set quiet" "ffmpeg_set quiet"
measure pausedf pausedg "filmeto_set paused" "ffmpeg_set paused"
loud_bd=$(breakdown loud.ev) loud_ap=$(audio_path loud.ev)
quiet_bd=$(breakdown quiet.ev) quiet_ap=$(audio_path quiet.ev)
paused_bd=$(breakdown paused.ev) paused_ap=$(audio_path paused.ev)
# the films' loudness as ffmpeg's ebur128 measures it
lufs() {
	ffmpeg -hide_banner -nostats -i "$1" -map 0:a -af ebur128 -f null - 2>&1 |
		awk '/^ *I:/ {v = $2} END {print v}'
}
loud_lufs="$(lufs loud-filmeto.mp4) LUFS (ffmpeg's: $(lufs loud-ffmpeg.mp4))"
quiet_lufs="$(lufs quiet-filmeto.mp4) LUFS (ffmpeg's: $(lufs quiet-ffmpeg.mp4))"
paused_lufs="$(lufs paused-filmeto.mp4) LUFS (ffmpeg's: $(lufs paused-ffmpeg.mp4))"

# --- 2. re-encode ----------------------------------------------------------
i=1 files=''
while [ $i -le 10 ]; do
	if [ $((i % 2)) -eq 1 ]; then size=1280x720 rate=25; else size=640x360 rate=30; fi
	case $((i % 3)) in 0) ar=none ;; 1) ar=44100 ;; *) ar=48000 ;; esac
	clip "$work/r$i.mp4" $size $rate 4 $ar
	files="$files $work/r$i.mp4"
	i=$((i + 1))
done
task mixed 4 "$files" > mixed.json

# one input per scene; audio resampled, or silence for a scene without
i=0 graph='' ins='' pairs=''
for f in $files; do
	ins="$ins -i $f"
	graph="${graph}[$i:v]scale=1280:720:force_original_aspect_ratio=decrease,"
	graph="${graph}pad=1280:720:(ow-iw)/2:(oh-ih)/2,fps=25,format=yuv420p,setsar=1[v$i];"
	if [ $(((i + 1) % 3)) -eq 0 ]; then
		graph="${graph}anullsrc=r=48000:cl=stereo,atrim=duration=4[a$i];"
	else
		graph="${graph}[$i:a]aresample=48000,aformat=channel_layouts=stereo,"
		graph="${graph}apad,atrim=duration=4[a$i];"
	fi
	pairs="${pairs}[v$i][a$i]"
	i=$((i + 1))
done
graph="$graph${pairs}concat=n=10:v=1:a=1[v][a]"

filmeto_mixed() {
	filmeto-run --no-cache -d "$work/out" -o "$work/mixed-filmeto.mp4" \
		< mixed.json > mixed.ev || { tail -n 5 mixed.ev >&2; die "filmeto-run failed"; }
	check_path mixed.ev reencode
}
ffmpeg_mixed() {
	# shellcheck disable=SC2086 # $ins is a list of -i FILE, no spaces in names
	ffmpeg -v error -nostdin -y $ins -filter_complex "$graph" -map '[v]' -map '[a]' \
		-c:v libx264 -preset veryfast -crf 20 -pix_fmt yuv420p -g 50 \
		-c:a aac -b:a 160k -ar 48000 mixed-ffmpeg.mp4
}

measure mixedf mixedg filmeto_mixed ffmpeg_mixed
mixed_bd=$(breakdown mixed.ev)
rm -f "$work"/u*.mp4 "$work"/q*.mp4 "$work"/p*.mp4 "$work"/r*.mp4 "$work"/*-filmeto.mp4 "$work"/*-ffmpeg.mp4

# --- 3. memory: 60 minutes -------------------------------------------------
memory() {
	clip "$work/hour.mp4" 1280x720 25 60 48000 color=c=navy
	i=1 files=''
	: > hour.txt
	while [ $i -le 60 ]; do
		files="$files $work/hour.mp4"
		echo "file '$work/hour.mp4'" >> hour.txt
		i=$((i + 1))
	done
	task hour 60 "$files" > hour.json
	t0=$(now)
	/usr/bin/time -f %M -o rss_f filmeto-run --no-cache -d "$work/out" \
		-o "$work/hour-filmeto.mp4" < hour.json > hour.ev ||
		{ tail -n 5 hour.ev >&2; die "filmeto-run failed on 60 minutes"; }
	t1=$(now)
	check_path hour.ev copy
	hour_f=$(( (t1 - t0) / 1000 ))
	t0=$(now)
	/usr/bin/time -f %M -o rss_g ffmpeg -v error -nostdin -y -f concat -safe 0 -i hour.txt \
		-c:v copy -c:a aac hour-ffmpeg.mp4
	t1=$(now)
	hour_g=$(( (t1 - t0) / 1000 ))
	hour_bd=$(breakdown hour.ev)
}
[ "${MEMORY:-0}" = 1 ] && memory

# row LABEL NAME: median wall seconds and user+sys CPU of NAME's runs
row() {
	printf '%-44s median %6.2f s  cpu %6.2f s\n' "$1" "$(wall "$2" | awk '{print $1 / 1e6}')" \
		"$(cpu "$2")"
}
# ratio A B TARGET: A's median over B's, wall and CPU
ratio() {
	awk -v fw="$(wall "$1")" -v gw="$(wall "$2")" -v fc="$(cpu "$1")" -v gc="$(cpu "$2")" \
		-v t="$3" 'BEGIN {
		printf "ratio filmeto/ffmpeg = %.2f wall, %.2f cpu (target: <= %s)\n", fw / gw, fc / gc, t }'
}
echo "($N runs each, alternating)"
row "loud:     filmeto-run combine (10 x 10 s)" loudf
row "loud:     ffmpeg -f concat -c:v copy -c:a aac" loudg
echo "loud:     filmeto stages: $loud_bd"
echo "loud:     audio: $loud_ap; film $loud_lufs"
printf 'loud:     '; ratio loudf loudg 0.8
row "quiet:    filmeto-run combine (10 x 10 s)" quietf
row "quiet:    ffmpeg -f concat -c:v copy -c:a aac" quietg
echo "quiet:    filmeto stages: $quiet_bd"
echo "quiet:    audio: $quiet_ap; film $quiet_lufs"
printf 'quiet:    '; ratio quietf quietg 0.8
row "paused:   filmeto-run combine (10 x 10 s)" pausedf
row "paused:   ffmpeg -f concat -c:v copy -c:a aac" pausedg
echo "paused:   filmeto stages: $paused_bd"
echo "paused:   audio: $paused_ap; film $paused_lufs"
printf 'paused:   '; ratio pausedf pausedg 0.8
row "reencode: filmeto-run combine (10 x 4 s mixed)" mixedf
row "reencode: ffmpeg -filter_complex concat" mixedg
echo "reencode: filmeto stages: $mixed_bd"
printf 'reencode: '; ratio mixedf mixedg 0.9
[ "${MEMORY:-0}" = 1 ] || exit 0
awk -v hf="$hour_f" -v hg="$hour_g" -v rf="$(tail -n 1 rss_f)" -v rg="$(tail -n 1 rss_g)" \
	-v hb="$hour_bd" 'BEGIN {
	printf "memory:   filmeto-run peak RSS %6.1f MiB  %6.1f s  (60 x 60 s, copy) (target: <= 128 MiB)\n", rf / 1024, hf / 1e6
	printf "memory:   ffmpeg concat peak RSS %6.1f MiB  %6.1f s\n", rg / 1024, hg / 1e6
	printf "memory:   filmeto stages: %s\n", hb
	printf "memory:   ratio filmeto/ffmpeg = %.2f\n", rf / rg
}'
