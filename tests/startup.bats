#!/usr/bin/env bats
# Start-up (issue 21): no command loads the media libraries (libav*, some
# 170 shared objects, ~35 ms at every start); only combine's helper,
# filmeto-combine, does, in the child that runs a combine task, found
# beside filmeto-run or in PREFIX/lib/filmeto. libcurl (~30 more, ~3 ms)
# is opened on first use, by what makes a request.

load test_helper

setup() {
	common_setup
}

# sos PID: the shared objects process PID has mapped, one per line.
sos() {
	awk '$6 ~ /\.so/ {print $6}' "/proc/$1/maps" | sort -u
}

# child_of PID PATTERN: the pid of PID's child whose command line matches.
child_of() {
	local p
	for p in $(pgrep -P "$1"); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "$2" && echo "$p" && return 0
	done
	return 1
}

# film_task ID CLIP: a one-scene combine task over CLIP.
film_task() {
	printf '{"type":"task","task_id":"%s","tool_name":"combine","parameters":{"width":320,"height":180,"fps":25,"scenes":[{"id":"s","duration":1}]},"resources":[{"type":"local_path","data":"%s","metadata":{"scene":"s","role":"video"}}]}\n' \
		"$1" "$2"
}

# clip FILE: one second of H.264 and AAC, as a user makes it with ffmpeg.
clip() {
	ffmpeg -v error -y -f lavfi -i testsrc2=s=320x180:r=25:d=1 -f lavfi -i sine=r=48000:d=1 \
		-c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest "$1"
}

# plays FILM: ffprobe finds H.264 video and AAC sound of about a second.
plays() {
	run ffprobe -v error -show_entries stream=codec_name -show_entries format=duration \
		-of default=nw=1 "$1"
	[ "$status" -eq 0 ]
	[[ "$output" == *"codec_name=h264"* && "$output" == *"codec_name=aac"* ]]
	[[ "$output" == *"duration=1."* || "$output" == *"duration=0.9"* ]]
}

@test "no command links libav* or libcurl, directly or through another library; the combine helper links libav*" {
	local cmd
	for cmd in filmeto-submit filmeto-run filmeto-watch filmeto-plugin filmeto-serve; do
		run readelf -d "$ROOT/cmd/$cmd"
		[ "$status" -eq 0 ]
		# what is read is the dynamic section: the libraries are listed
		[[ "$output" == *"(NEEDED)"*"libjson-c"* ]]
		[[ "$output" != *libav* && "$output" != *libsw* && "$output" != *libcurl* ]] ||
			{ echo "$cmd: $output"; false; }
		run ldd "$ROOT/cmd/$cmd"
		[ "$status" -eq 0 ]
		[[ "$output" == *libnettle* ]]
		[[ "$output" != *libav* && "$output" != *libsw* && "$output" != *libcurl* ]] ||
			{ echo "$cmd: $output"; false; }
	done
	run readelf -d "$ROOT/cmd/filmeto-combine"
	[[ "$output" == *libavformat* && "$output" == *libavcodec* && "$output" == *libavfilter* ]]
}

@test "a stream without combine never maps libav* or libcurl; a combine's helper maps libav*, and its film plays" {
	clip clip.mp4
	mkfifo feed
	filmeto-run -d out feed >events 2>stderr &
	pid=$!
	exec {w}>feed
	filmeto-submit -t noop -P noop -i n >&$w
	wait_for grep -q '"type":"completed","task_id":"n"' events
	# The noop plugin stays warm while the input is open: both are looked at.
	noop=$(child_of "$pid" /noop)
	sos "$pid" >run.sos
	sos "$noop" >noop.sos
	grep -q libjson-c run.sos
	grep -q libjson-c noop.sos
	! grep -E 'libav|libsw|libcurl' run.sos noop.sos
	film_task film "$PWD/clip.mp4" >&$w
	wait_for -t 60 grep -q '"type":"completed","task_id":"film"' events
	# What saw nothing above sees the media libraries where they are.
	helper=$(child_of "$pid" '--filmeto-builtin combine')
	[ "$(readlink "/proc/$helper/exe")" = "$ROOT/cmd/filmeto-combine" ]
	sos "$helper" | grep -q libavcodec
	! sos "$pid" | grep -E 'libav|libsw'
	exec {w}>&-
	wait "$pid"
	plays out/film/film.mp4
}

@test "a missing helper fails the film with PLUGIN_NOT_FOUND naming where it looked; other tasks run" {
	mkdir -p alone/bin
	cp "$ROOT/cmd/filmeto-run" alone/bin/
	{
		# not media: the helper, which would say so, is never started
		head -c 1000 /dev/urandom >noise.mp4
		film_task film "$PWD/noise.mp4"
		echo_task n
	} >tasks
	rc=0
	alone/bin/filmeto-run -d out tasks >events 2>stderr || rc=$?
	[ "$rc" -eq 1 ]
	[ "$(final film '["error"]["code"]')" = PLUGIN_NOT_FOUND ]
	msg=$(final film '["error"]["message"]')
	[[ "$msg" == *"helper 'filmeto-combine' is missing"* ]]
	[[ "$msg" == *"'$PWD/alone/bin/filmeto-combine'"* ]]
	[[ "$msg" == *"'$PWD/alone/bin/../lib/filmeto/filmeto-combine'"* ]]
	[ "$(final n '["type"]')" = completed ]
	# --version says the media libraries are unknown, and why.
	run --separate-stderr alone/bin/filmeto-run --version
	[ "$status" -eq 0 ]
	[[ "${lines[1]}" == "libav* unknown (no filmeto-combine); libcurl "* ]]
	[[ "$stderr" == *"filmeto-run: helper 'filmeto-combine' is missing"* ]]
}

@test "the helper: --version names the libraries it runs with; other uses are usage errors" {
	run --separate-stderr filmeto-run --version
	[ "$status" -eq 0 ]
	[[ "${lines[1]}" == "libavformat $(pkg-config --modversion libavformat), libavcodec "* ]]
	run --separate-stderr "$ROOT/cmd/filmeto-combine" --version
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "filmeto-combine 0.1.0 (git "*")" ]]
	[[ "${lines[1]}" == "libavformat $(pkg-config --modversion libavformat),"* ]]
	run --separate-stderr "$ROOT/cmd/filmeto-combine" </dev/null
	[ "$status" -eq 2 ]
	[[ "$stderr" == "usage: filmeto-combine --filmeto-builtin combine"* ]]
	run --separate-stderr "$ROOT/cmd/filmeto-combine" --filmeto-builtin titlecard </dev/null
	[ "$status" -eq 2 ]
}

@test "make install puts the helper in PREFIX/lib/filmeto, off PATH; the installed and moved tree combines" {
	clip clip.mp4
	make -s -C "$ROOT" install DESTDIR="$BATS_TEST_TMPDIR/dest" PREFIX=/usr >/dev/null
	[ -x dest/usr/lib/filmeto/filmeto-combine ]
	[ ! -e dest/usr/bin/filmeto-combine ]
	mv dest/usr moved
	PATH="$PWD/moved/bin:/usr/bin:/bin"
	film_task film "$PWD/clip.mp4" | moved/bin/filmeto-run -d out >events
	helper=$(final film '["type"]')
	[ "$helper" = completed ]
	plays out/film/film.mp4
	run moved/bin/filmeto-run --version
	[[ "${lines[1]}" == "libavformat "* ]]
}
