#!/usr/bin/env bats
# share/filmeto/examples/batch/Makefile: a folder of storyboards rendered
# into films with make -j, each rebuilt only when its storyboard or a file
# it names changed.

load test_helper

setup() {
	common_setup
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
	cp "$ROOT/share/filmeto/examples/batch/Makefile" .
	for n in a b c; do
		printf 'title: Film %s\nsize: 160x90\nfps: 12\nscenes:\n  - prompt: "%s"\n    duration: 1\n' \
			"$n" "$n" > "$n.yaml"
	done
	cp "$ROOT/share/filmeto/examples/hello-contact.png" pic.png
	printf '  - image: pic.png\n    duration: 1\n' >> a.yaml
	# The sources are older than anything made from them.
	touch -d '1 minute ago' ./*.yaml pic.png
}

# stamps: each film's modification time, in nanoseconds.
stamps() {
	stat -c '%n %.9Y' a.mp4 b.mp4 c.mp4
}

@test "the batch Makefile renders every storyboard, then only what changed" {
	run make -j3
	[ "$status" -eq 0 ]
	for n in a b c; do
		[ "$(probe "$n.mp4" stream=codec_name v:0)" = h264 ]
		grep -q '"type":"completed"' "work/$n.events"
	done
	before=$(stamps)
	run make
	[ "$status" -eq 0 ]
	[[ "$output" == *"Nothing to be done"* ]]
	[ "$(stamps)" = "$before" ]
	# A changed storyboard: that film only.
	before=$(stamps)
	sed -i 's/Film b/Film bee/' b.yaml
	run make -j3
	[ "$status" -eq 0 ]
	[ "$(grep -v '^b.mp4' <<< "$(stamps)")" = "$(grep -v '^b.mp4' <<< "$before")" ]
	[ "$(grep '^b.mp4' <<< "$(stamps)")" != "$(grep '^b.mp4' <<< "$before")" ]
	[ "$(jfile b.json 'd["title"]')" = "Film bee" ]
	# A picture a storyboard names: its film only.
	before=$(stamps)
	ffmpeg -v error -f lavfi -i color=red:s=64x36 -frames:v 1 -y pic.png
	run make -j3
	[ "$status" -eq 0 ]
	[ "$(grep -v '^a.mp4' <<< "$(stamps)")" = "$(grep -v '^a.mp4' <<< "$before")" ]
	[ "$(grep '^a.mp4' <<< "$(stamps)")" != "$(grep '^a.mp4' <<< "$before")" ]
	run make clean
	[ ! -e a.mp4 ] && [ ! -e b.json ] && [ ! -e c-contact.png ] && [ ! -e work ]
}

@test "the batch Makefile: a storyboard in error fails make with filmeto's message, and no film" {
	printf 'title: D\nscenes:\n  - prompt: x\n    duraton: 1\n' > d.yaml
	run make -k -j3
	[ "$status" -ne 0 ]
	[[ "$output" == *"d.yaml:3: scene 1: unknown field 'duraton': did you mean 'duration'?"* ]]
	[ "$(grep -c "unknown field 'duraton'" <<< "$output")" -eq 1 ]
	[[ "$output" == *"d.mp4] Error"* ]]
	[ ! -e d.mp4 ]
	# -k: the others were made.
	[ -s a.mp4 ] && [ -s b.mp4 ] && [ -s c.mp4 ]
}
