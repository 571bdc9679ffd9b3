#!/usr/bin/env bats
# combine's audio path: the scenes' own AAC copied like the video when
# nothing is mixed into it and its measured loudness is already within the
# target's tolerance, and encoded otherwise; the film's .json and the
# result say which and why. Clips are made as a user's generator makes
# them: libx264 with B-frames and a long GOP, AAC at ffmpeg's defaults
# (with its priming and padding).

load test_helper

# uclip FILE SECONDS AUDIO_SOURCE [AUDIO_OPTS...]: a 320x180 25 fps clip
uclip() {
	local out=$1 secs=$2 src=$3
	shift 3
	ffmpeg -v error -y -f lavfi -i "testsrc2=s=320x180:r=25:d=$secs" -f lavfi -i "$src" \
		-map 0:v -map 1:a -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac "$@" \
		-shortest "$out"
}

# speech SEED: a phrase of syllables, band-limited pink noise, stereo, about
# -16 LUFS, with a breath of room tone (-60 dBFS) before and after it, as
# a narrated scene has
speech() {
	echo "anoisesrc=c=pink:r=48000:a=0.5:d=2:seed=$1,highpass=f=150,lowpass=f=4000,volume='if(between(t,0.15,1.85),0.6+0.4*sin(2*PI*4*t),0.0005)':eval=frame,volume=12.3dB"
}

setup_file() {
	local d="$BATS_FILE_TMPDIR" i
	for i in 1 2 3; do
		uclip "$d/s$i.mp4" 2 "$(speech $i)" -ac 2
		# a steady tone each, another pitch per scene: any gap or click at a join
		# shows; its sound runs 0.1 s past its pictures, as a camera's may
		ffmpeg -v error -y -f lavfi -i "testsrc2=s=320x180:r=25:d=2" \
			-f lavfi -i "sine=f=$((300 + 70 * i)):r=48000:d=2.1" -map 0:v -map 1:a \
			-c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -ac 2 "$d/t$i.mp4"
		# the same, sound and pictures ending together
		uclip "$d/e$i.mp4" 2 "sine=f=$((300 + 70 * i)):r=48000:d=2" -ac 2
		# 4 s each: a film long enough for its sound to be encoded in two halves
		uclip "$d/g$i.mp4" 4 "sine=f=$((300 + 70 * i)):r=48000:d=4" -ac 2
		# silence but for a 40 ms beep 0.5 s in: where each scene's sound starts
		uclip "$d/b$i.mp4" 2 "aevalsrc=0.5*sin(2*PI*1000*t)*between(t\,0.5\,0.54):s=48000:d=2" -ac 2
	done
	uclip "$d/rate.mp4" 2 "$(speech 4),aresample=44100" -ac 2
	ffmpeg -v error -y -f lavfi -i "testsrc2=s=320x180:r=25:d=2" -f lavfi -i "$(speech 5)" \
		-map 0:v -map 1:a -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -ac 2 \
		-t 2 -af atrim=0:1.2 "$d/short.mp4"
	ffmpeg -v error -y -f lavfi -i "sine=f=600:r=22050:d=1.2" "$d/speech.wav"
}

setup() {
	common_setup
	M="$BATS_FILE_TMPDIR"
}

# film ID LOUDNESS FILE...: a combine task line, one 2 s scene per file;
# after FILE, ",narration=N" adds a narration; "music=FILE" a music bed
film() {
	python3 - "$@" <<'PY'
import json, sys
tid, loud, specs = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
scenes, res = [], []
for spec in specs:
    if spec.startswith("music="):
        res.append({"type": "local_path", "data": spec[6:], "metadata": {"role": "music"}})
        continue
    parts = spec.split(",")
    name = "s%d" % (len(scenes) + 1)
    scenes.append({"id": name, "duration": 2, "title": "Scene " + name, "text": "Line " + name})
    res.append({"type": "local_path", "data": parts[0],
                "metadata": {"scene": name, "role": "video"}})
    for kv in parts[1:]:
        res.append({"type": "local_path", "data": kv.split("=", 1)[1],
                    "metadata": {"scene": name, "role": "narration"}})
print(json.dumps({"type": "task", "task_id": tid, "tool_name": "combine",
                  "parameters": {"title": "Fast", "width": 320, "height": 180, "fps": 25,
                                 "loudness": loud, "scenes": scenes},
                  "resources": res}))
PY
}

# lufs FILE: integrated loudness, as ffmpeg's ebur128 measures it
lufs() {
	ffmpeg -hide_banner -nostats -i "$1" -map 0:a -af ebur128 -f null - 2>&1 |
		awk '/^ *I:/ {v = $2} END {print v}'
}

# near A B TOL: |A - B| <= TOL
near() {
	python3 -c "import sys; sys.exit(not abs($1 - ($2)) <= $3)" ||
		{ echo "$1 is not within $3 of $2"; return 1; }
}

audio_of() { jget "$1" 'by("completed")[-1]["metadata"]["audio"]'; }
reason_of() { jget "$1" 'by("completed")[-1]["metadata"]["audio_reason"]'; }

@test "clips already at the target loudness: their sound is copied, and the .json says why" {
	film f -16 "$M/s1.mp4" "$M/s2.mp4" "$M/s3.mp4" >task.json
	filmeto-run -o film.mp4 task.json >events
	[ "$(jget events 'by("completed")[-1]["metadata"]["path"]')" = copy ]
	[ "$(audio_of events)" = copy ]
	reason_of events | grep -E "AAC alike, measured -1[56]\.[0-9] LUFS, within 1\.0 LU of the target -16\.0 LUFS, peak under -1\.5 dBTP"
	[ "$(jfile film.json 'd["audio"]')" = copy ]
	[ "$(jfile film.json 'd["audio_reason"]')" = "$(reason_of events)" ]
	[ "$(jfile film.json 'd["loudness"]["gain_db"]')" = 0.0 ]
	# the film's loudness, measured by ffmpeg, is within the tolerance
	near "$(lufs film.mp4)" -16 1.0
	# the clips' own AAC, not an encode of it: the same codec settings, stereo at 48 kHz
	[ "$(probe film.mp4 stream=codec_name a:0)" = aac ]
	[ "$(probe film.mp4 stream=channels a:0)" = 2 ]
	[ "$(probe film.mp4 stream=bit_rate a:0)" != 160000 ]
	# audio and video end together; chapters, subtitles and pictures as ever
	near "$(probe film.mp4 stream=duration a:0)" "$(probe film.mp4 stream=duration v:0)" 0.011
	[ "$(probe film.mp4 stream=nb_frames v:0)" -eq 150 ]
	[ "$(ffprobe -v error -show_chapters -of csv=p=0 film.mp4 | wc -l)" -eq 3 ]
	grep -q "Line s3" film.srt
	[ -s film-contact.png ] && [ -s film-thumbs/03-s3.png ]
	run ffmpeg -v error -i film.mp4 -f null -
	[ "$status" -eq 0 ] && [ -z "$output" ]
}

@test "copied sound starts with each scene's pictures: no drift, no gap" {
	film f "$(lufs "$M/b1.mp4")" "$M/b1.mp4" "$M/b2.mp4" "$M/b3.mp4" >task.json
	filmeto-run -o film.mp4 task.json >events
	[ "$(audio_of events)" = copy ]
	# each scene's beep, 0.5 s into it, within half an AAC frame (10.7 ms)
	ffmpeg -hide_banner -nostats -i film.mp4 -map 0:a -af silencedetect=n=-40dB:d=0.01 \
		-f null - 2>&1 | sed -n 's/.*silence_end: \([0-9.]*\).*/\1/p' | awk '$1 < 5.9' >beeps
	[ "$(wc -l <beeps)" -eq 3 ]
	near "$(sed -n 1p beeps)" 0.5 0.0115
	near "$(sed -n 2p beeps)" 2.5 0.0115
	near "$(sed -n 3p beeps)" 4.5 0.0115
	near "$(probe film.mp4 stream=duration a:0)" 6 0.011
}

@test "copied sound joins without a gap or a click louder than a cut's" {
	film f "$(lufs "$M/t1.mp4")" "$M/t1.mp4" "$M/t2.mp4" "$M/t3.mp4" >task.json
	filmeto-run -o film.mp4 task.json >events
	[ "$(audio_of events)" = copy ]
	# a steady tone throughout: no stretch of silence anywhere
	run ffmpeg -hide_banner -nostats -i film.mp4 -map 0:a \
		-af atrim=0:5.9,silencedetect=n=-40dB:d=0.002 \
		-f null -
	[[ "$output" != *silence_start* ]]
	# the largest step between samples at each join, against one inside a scene
	step() {
		ffmpeg -hide_banner -nostats -i film.mp4 -map 0:a \
			-af "atrim=$1:$2,astats=measure_overall=Max_difference:measure_perchannel=none" \
			-f null - 2>&1 | awk '/Max difference:/ {print $NF}'
	}
	inside=$(step 0.5 1.5)
	near "$(step 1.95 2.05)" 0 "2 * $inside"
	near "$(step 3.95 4.05)" 0 "2 * $inside"
}

@test "sound that would not join cleanly when copied is encoded instead, saying where" {
	film f "$(lufs "$M/e1.mp4")" "$M/e1.mp4" "$M/e2.mp4" "$M/e3.mp4" >task.json
	filmeto-run -o film.mp4 task.json >events
	[ "$(jget events 'by("completed")[-1]["metadata"]["path"]')" = copy ]
	[ "$(audio_of events)" = reencode ]
	reason_of events | grep -E "the sound of scenes 's[12]' and 's[23]' would not join cleanly \(louder than -40 dBFS"
	[ "$(jfile film.json 'd["audio_reason"]')" = "$(reason_of events)" ]
	run ffmpeg -hide_banner -nostats -i film.mp4 -map 0:a \
		-af atrim=0:5.9,silencedetect=n=-40dB:d=0.002 \
		-f null -
	[[ "$output" != *silence_start* ]]
	near "$(probe film.mp4 stream=duration a:0)" 6 0.04
	[ -s film-contact.png ] && [ -s film-thumbs/03-s3.png ]
}

@test "clips quieter than the target: normalized and encoded, saying how far off they were" {
	film f -26 "$M/s1.mp4" "$M/s2.mp4" "$M/s3.mp4" >task.json
	filmeto-run -o film.mp4 task.json >events
	[ "$(audio_of events)" = reencode ]
	reason_of events | grep -E "measured -1[56]\.[0-9] LUFS, [0-9.]+ LU from the target -26\.0 LUFS \(tolerance 1\.0 LU\)"
	[ "$(jfile film.json 'd["audio"]')" = reencode ]
	jfile film.json 'd["audio_reason"]' | grep "from the target -26.0 LUFS"
	near "$(lufs film.mp4)" -26 1.0
	[ "$(probe film.mp4 stream=bit_rate a:0)" -gt 100000 ]
	near "$(probe film.mp4 stream=duration a:0)" 6 0.04
}

@test "narration or music mixed in: the sound is encoded, and the .json says so" {
	film f -16 "$M/s1.mp4,narration=$M/speech.wav" "$M/s2.mp4" >task.json
	filmeto-run -o film.mp4 task.json >events
	[ "$(audio_of events)" = reencode ]
	[ "$(reason_of events)" = "scene 's1' has narration mixed in" ]
	[ "$(jfile film.json 'd["audio_reason"]')" = "scene 's1' has narration mixed in" ]

	film g -16 "$M/s1.mp4" "$M/s2.mp4" "music=$M/speech.wav" >task2.json
	filmeto-run -o film2.mp4 task2.json >events2
	[ "$(audio_of events2)" = reencode ]
	[ "$(reason_of events2)" = "music is mixed in" ]
}

@test "scenes whose sound differs or falls short: encoded, naming the scene" {
	film f -16 "$M/s1.mp4" "$M/rate.mp4" >task.json
	filmeto-run -o film.mp4 task.json >events
	[ "$(audio_of events)" = reencode ]
	[ "$(reason_of events)" = "scene 's2' cannot be copied: its sound is at 44100 Hz, not 48000" ]
	[ "$(probe film.mp4 stream=sample_rate a:0)" = 48000 ]

	film g -16 "$M/s1.mp4" "$M/short.mp4" "$M/s3.mp4" >task2.json
	filmeto-run -o film2.mp4 task2.json >events2
	[ "$(audio_of events2)" = reencode ]
	reason_of events2 | grep "scene 's2''s sound is 0.8[0-9]* s shorter than its pictures"
	near "$(probe film2.mp4 stream=duration a:0)" 6 0.04

	film h -16 "$M/s1.mp4" "$M/s2.mp4" >task3.json
	filmeto-run -o film3.mkv task3.json >events3
	[ "$(audio_of events3)" = reencode ]
	[ "$(reason_of events3)" = "the film is not an mp4 or mov file" ]

	# a file without an edit list does not say which samples are AAC priming
	ffmpeg -v error -y -i "$M/b2.mp4" -c copy -use_editlist 0 plain.mp4
	film i "$(lufs "$M/b1.mp4")" "$M/b1.mp4" "$PWD/plain.mp4" "$M/b3.mp4" >task4.json
	filmeto-run -o film4.mp4 task4.json >events4
	[ "$(audio_of events4)" = reencode ]
	reason_of events4 | grep "copying it failed: '.*plain.mp4' does not mark its AAC priming"
	near "$(probe film4.mp4 stream=duration a:0)" 6 0.04
}

@test "sound encoded in two halves at once joins them without a seam" {
	film f -16 "$M/g1.mp4" "$M/g2.mp4" "$M/g3.mp4" >task.json
	filmeto-run -o film.mp4 task.json >events
	[ "$(audio_of events)" = reencode ]
	near "$(lufs film.mp4)" -16 1.0
	near "$(probe film.mp4 stream=duration a:0)" 12 0.001
	# the halves meet at 5.995 s (the last whole AAC frame before the middle)
	run ffmpeg -hide_banner -nostats -i film.mp4 -map 0:a \
		-af atrim=0:11.9,silencedetect=n=-40dB:d=0.002 -f null -
	[[ "$output" != *silence_start* ]]
	step() {
		ffmpeg -hide_banner -nostats -i film.mp4 -map 0:a \
			-af "atrim=$1:$2,astats=measure_overall=Max_difference:measure_perchannel=none" \
			-f null - 2>&1 | awk '/Max difference:/ {print $NF}'
	}
	# a steady tone about the seam: no step between samples larger than inside
	near "$(step 5.9 6.1)" 0 "1.05 * $(step 4.5 5.5)"
}
