#!/bin/sh
# filmeto-run's built-in combine, measured in one run against the ffmpeg
# command a user would write instead, on the same files:
#   1. stream copy: 10 uniform scenes of 10 s, 1280x720 25 fps H.264+AAC,
#      against ffmpeg's concat demuxer with -c:v copy -c:a aac;
#   2. re-encode: 10 mixed scenes of 4 s (1280x720@25 and 640x360@30,
#      audio at 44.1 or 48 kHz or none), against one ffmpeg -filter_complex
#      (scale+pad, fps, format, setsar, aresample, concat) with combine's
#      encoder settings;
#   3. memory: 60 minutes in 60 uniform scenes, peak RSS of filmeto-run
#      against the same ffmpeg concat.
# combine does more than either ffmpeg command (loudness measured and
# normalized, music ducking, chapters, .srt, .json, thumbnails, contact
# sheet); the ratios count that against it, as a user would.
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

# breakdown EVENTS: seconds from each stage's first progress line to the
# next stage's (the last runs to the completed line)
breakdown() {
	awk -f "$ROOT/bench/stages.awk" "$1"
}

# --- 1. stream copy --------------------------------------------------------
i=1 files=''
: > copy.txt
while [ $i -le 10 ]; do
	clip "$work/c$i.mp4" 1280x720 25 10 48000
	echo "file '$work/c$i.mp4'" >> copy.txt
	files="$files $work/c$i.mp4"
	i=$((i + 1))
done
task copy 10 "$files" > copy.json

filmeto_copy() {
	filmeto-run --no-cache -d "$work/out" -o "$work/copy-filmeto.mp4" \
		< copy.json > copy.ev || { tail -n 5 copy.ev >&2; die "filmeto-run failed"; }
	check_path copy.ev copy
}
ffmpeg_copy() {
	ffmpeg -v error -nostdin -y -f concat -safe 0 -i copy.txt -c:v copy -c:a aac \
		copy-ffmpeg.mp4
}

# alternate the two so drift in the machine hits both alike
# measure NAME_A NAME_B FUNC_A FUNC_B
measure() {
	: > "$1.times"; : > "$2.times"
	k=0
	while [ $k -lt "$N" ]; do
		t0=$(now); "$3"; t1=$(now); echo $(( (t1 - t0) / 1000 )) >> "$1.times"
		t0=$(now); "$4"; t1=$(now); echo $(( (t1 - t0) / 1000 )) >> "$2.times"
		k=$((k + 1))
	done
}

measure copyf copyg filmeto_copy ffmpeg_copy
copy_f=$(median < copyf.times)
copy_g=$(median < copyg.times)
copy_bd=$(breakdown copy.ev)

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
mixed_f=$(median < mixedf.times)
mixed_g=$(median < mixedg.times)
mixed_bd=$(breakdown mixed.ev)
rm -f "$work"/c*.mp4 "$work"/r*.mp4 "$work"/*-filmeto.mp4 "$work"/*-ffmpeg.mp4

# --- 3. memory: 60 minutes -------------------------------------------------
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

awk -v n="$N" -v cf="$copy_f" -v cg="$copy_g" -v mf="$mixed_f" -v mg="$mixed_g" \
	-v hf="$hour_f" -v hg="$hour_g" -v rf="$(tail -n 1 rss_f)" -v rg="$(tail -n 1 rss_g)" \
	-v cb="$copy_bd" -v mb="$mixed_bd" -v hb="$hour_bd" 'BEGIN {
	printf "copy:     filmeto-run combine (copy)      median %6.2f s  (%d runs, 10 x 10 s 1280x720)\n", cf / 1e6, n
	printf "copy:     ffmpeg -f concat -c:v copy      median %6.2f s\n", cg / 1e6
	printf "copy:     filmeto stages: %s\n", cb
	printf "copy:     ratio filmeto/ffmpeg = %.2f (target: <= 0.8)\n", cf / cg
	printf "reencode: filmeto-run combine (reencode)  median %6.2f s  (%d runs, 10 x 4 s mixed)\n", mf / 1e6, n
	printf "reencode: ffmpeg -filter_complex concat   median %6.2f s\n", mg / 1e6
	printf "reencode: filmeto stages: %s\n", mb
	printf "reencode: ratio filmeto/ffmpeg = %.2f (target: <= 1.0)\n", mf / mg
	printf "memory:   filmeto-run peak RSS %6.1f MiB  %6.1f s  (60 x 60 s, copy) (target: <= 128 MiB)\n", rf / 1024, hf / 1e6
	printf "memory:   ffmpeg concat peak RSS %6.1f MiB  %6.1f s\n", rg / 1024, hg / 1e6
	printf "memory:   filmeto stages: %s\n", hb
	printf "memory:   ratio filmeto/ffmpeg = %.2f\n", rf / rg
}'
