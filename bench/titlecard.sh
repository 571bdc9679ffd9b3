#!/bin/sh
# One title card, two ways, in the same run: filmeto-submit | filmeto-run
# (the real pipeline: manifest lookup, validation, plugin process start,
# JSON-RPC, libavfilter in the plugin) against the ffmpeg command a user
# would write by hand for the same 1280x720 PNG. Reports the wall-time
# ratio of the medians over N runs of each.
set -eu
N=${N:-20}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PATH="$ROOT/cmd:$PATH"
FONT=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
cd "$work"

now() { date +%s%N; }

filmeto_once() {
	filmeto-submit -t text2image -i "bench$1" -p prompt='A lighthouse at dusk' \
		-p style=plain -p background=navy -p font_size=72 \
		| filmeto-run -d "$work/out" >/dev/null
}

ffmpeg_once() {
	ffmpeg -v error -y -f lavfi -i color=c=navy:s=1280x720:r=1 \
		-vf "drawtext=fontfile=$FONT:text='A lighthouse at dusk':fontsize=72:fontcolor=white:x=(w-text_w)/2:y=(h-text_h)/2" \
		-frames:v 1 "$work/ffmpeg$1.png"
}

median() { sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

measure() { # FUNCTION
	i=0
	while [ $i -lt "$N" ]; do
		t0=$(now); "$1" $i; t1=$(now)
		echo $(( (t1 - t0) / 1000 ))
		i=$((i + 1))
	done | median
}

filmeto_once warmup; ffmpeg_once warmup
f=$(measure filmeto_once)
g=$(measure ffmpeg_once)
[ -s "$work/out/bench0/card.png" ] && [ -s "$work/ffmpeg0.png" ]
awk -v f="$f" -v g="$g" -v n="$N" 'BEGIN {
	printf "titlecard: filmeto-submit | filmeto-run  median %6.1f ms  (%d runs)\n", f / 1000, n
	printf "titlecard: ffmpeg -f lavfi drawtext       median %6.1f ms  (%d runs)\n", g / 1000, n
	printf "titlecard: ratio filmeto/ffmpeg = %.2f\n", f / g
}'
