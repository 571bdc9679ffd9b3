#!/usr/bin/env bats
# filmeto-watch on a real terminal: run under tmux (the screen as a person
# sees it, read with capture-pane) and under script(1) (the bytes written,
# escape sequences included), fed by scripted event streams.

load test_helper

setup() {
	common_setup
	command -v tmux >/dev/null || skip "tmux is not installed"
	command -v script >/dev/null || skip "script is not installed"
	sock="fw$$-$BATS_TEST_NUMBER"
	# The stream pauses after the first events until the file "go" exists,
	# so the live lines can be looked at while tasks run.
	{
		echo '#!/bin/sh'
		declare -f ev
		cat <<'EOF'
echo '{"type":"task","task_id":"film","tool_name":"combine","plugin_name":"builtin","resources":[{"type":"task_output","data":"s1"},{"type":"task_output","data":"s2"}]}'
ev started s1 ',"tool_name":"text2image","plugin_name":"titlecard","attempt":1'
ev started s2 ',"tool_name":"text2speak","plugin_name":"espeak","attempt":1'
ev progress s1 ',"percent":50,"stage":"render","message":"drawing"'
while [ ! -e go ]; do sleep 0.05; done
ev completed s1 ',"execution_time":1.5,"output_files":["/tmp/s1.png"]'
ev failed s2 ',"error":{"code":"TIMEOUT_ERROR","message":"too slow"}'
ev started film ',"tool_name":"combine","plugin_name":"builtin"'
ev completed film ',"output_files":["/tmp/film.mp4"],"metadata":{"cached":true}'
EOF
	} >gen
	chmod +x gen
}

teardown() {
	tmux -L "$sock" kill-server 2>/dev/null || true
}

@test "live lines: an overall bar, a bar per running task, then summary lines" {
	on_tty "./gen | filmeto-watch >events"
	until_screen '^  s1 +text2image/titlecard \[.*\]  50% .*render: drawing'
	run screen
	[[ "$output" == *"all ["*"]  10%  0/3 done, 2 running"* ]]
	[[ "$output" == *"  s2 "*"text2speak/espeak ["*"]   0%"* ]]
	touch go
	wait_for test -e rc
	[ "$(cat rc)" -eq 1 ]
	run screen
	[[ "${lines[0]}" == "✓ s1 1.5s /tmp/s1.png" ]]
	[[ "${lines[1]}" == "✗ s2 "*"s TIMEOUT_ERROR: too slow" ]]
	[[ "${lines[2]}" == "✓ film "*"s /tmp/film.mp4 (cached)" ]]
	[[ "$output" == *"filmeto-watch: failed s2: TIMEOUT_ERROR: too slow"* ]]
	[[ "$output" == *"3 tasks: 2 completed, 1 failed, 0 cancelled; 1 cached"* ]]
	# The live lines are gone and the stream went to stdout untouched.
	[[ "$output" != *"all ["* ]]
	[ "$(wc -l <events)" -eq 8 ]
}

@test "the overall bar weighs a task by the resources it names" {
	# film names two scenes: it weighs 3 of 5, so its half is 30%.
	{
		echo '{"type":"task","task_id":"film","resources":[{"type":"task_output","data":"s1"},{"type":"task_output","data":"s2"}]}'
		echo '{"type":"task","task_id":"s1"}'
		echo '{"type":"task","task_id":"s2"}'
		echo '{"type":"started","task_id":"film"}'
		echo '{"type":"progress","task_id":"film","percent":50}'
	} >in
	on_tty "{ cat in; sleep 30; } | filmeto-watch >/dev/null"
	until_screen '^all \[.*\]  30%  0/3 done, 1 running'
}

@test "lines are cut to the terminal width and follow a resize" {
	on_tty "./gen | filmeto-watch >/dev/null"
	until_screen 'render: drawing'
	# The overall bar shrinks so that its counts fit; the note is cut with an ellipsis.
	tmux -L "$sock" resize-window -t w -x 60
	until_screen '^all \[.{10,22}\]  10%  0/3 done, 2 running  [0-9]+s$'
	run screen
	[[ "${lines[1]}" == "  s1 text2image/titlecard ["*"]  50% "*"  re"*"…" ]]
	local l
	for l in "${lines[@]}"; do
		[ "${#l}" -lt 60 ]
	done
	touch go
	wait_for test -e rc
}

@test "Ctrl-C: the live lines are erased, the summary printed, status 130" {
	# The shell and the generator ignore SIGINT, so the status is watch's own.
	on_tty "trap '' INT; ./gen | filmeto-watch >/dev/null"
	until_screen 'render: drawing'
	tmux -L "$sock" send-keys -t w C-c
	until_screen 'wall time'
	touch go
	wait_for test -e rc
	[ "$(cat rc)" -eq 130 ]
	run screen
	[[ "$output" == *"task 's1' did not finish: interrupted"* ]]
	[[ "$output" == *"3 tasks: 0 completed, 0 failed, 0 cancelled, 3 unfinished"* ]]
	[[ "$output" != *"all ["* ]]
}

# raw ARGS...: the bytes filmeto-watch writes to a terminal, in ./raw.
raw() {
	touch go
	script -qfec "./gen | filmeto-watch $* >/dev/null" /dev/null >raw || true
}

has_sgr() {
	grep -qP '\x1b\[[0-9;]*m' raw
}

@test "colour: on a terminal by default, off with NO_COLOR and --color=never" {
	unset NO_COLOR
	TERM=xterm raw
	has_sgr
	NO_COLOR=1 TERM=xterm raw
	! has_sgr
	grep -q '✓ s1' raw
	TERM=xterm raw --color=never
	! has_sgr
	NO_COLOR=1 TERM=xterm raw --color=always
	has_sgr
}

@test "the cursor is hidden while drawing and shown again at the end" {
	NO_COLOR=1 raw
	grep -qF $'\e[?25l' raw
	[ "$(grep -oF $'\e[?25h' raw | wc -l)" -eq 1 ]
	[[ "$(tail -c 200 raw)" != *$'\e[?25l'* ]]
}

@test "-q on a terminal: no live lines, only failures and the summary" {
	touch go
	NO_COLOR=1 script -qfec "./gen | filmeto-watch -q >/dev/null" /dev/null >raw || true
	! grep -qF $'\e[?25l' raw
	! grep -q '✓' raw
	grep -q 'failed s2: TIMEOUT_ERROR: too slow' raw
	grep -q '3 tasks: 2 completed, 1 failed' raw
}

# A stream that redraws often: two tasks start, then s1 makes 12 steps of
# progress 0.15s apart (each one a frame), then ./sent appears and the
# stream waits for ./go. $TOOL, $PLUGIN and $MESSAGE (JSON text) name the
# tool, the plugin and the steps, so they can be wide or hostile.
steps() {
	{
		echo '#!/bin/sh'
		declare -f ev
		cat <<'EOF'
ev started s1 ",\"tool_name\":\"${TOOL:-text2image}\",\"plugin_name\":\"${PLUGIN:-titlecard}\""
ev started s2 ',"tool_name":"text2speak","plugin_name":"espeak"'
i=0
while [ $i -lt 12 ]; do
	i=$((i + 1))
	ev progress s1 ",\"percent\":$((i * 8)),\"stage\":\"render\",\"message\":\"${MESSAGE:-step} $i\""
	sleep 0.15
done
touch sent
while [ ! -e go ]; do sleep 0.05; done
ev completed s1 ',"execution_time":1.5,"output_files":["/tmp/s1.png"]'
ev failed s2 ",\"error\":{\"code\":\"TIMEOUT_ERROR\",\"message\":\"${MESSAGE:-too slow}\"}"
EOF
	} >steps
	chmod +x steps
}

# The screen's lines, joined where they wrapped, each after its width in
# columns.
widths() {
	tmux -L "$sock" capture-pane -p -J -t w | python3 -c '
import sys, unicodedata
def width(c):
    if unicodedata.combining(c) or c == "\ufe0f":
        return 0
    return 2 if unicodedata.east_asian_width(c) in "WF" else 1
for l in sys.stdin.read().split("\n"):
    print(sum(width(c) for c in l), l)'
}

# live_ok COLS: after many frames, one overall line and no line as wide as
# the screen (it would have wrapped); at the end no bar is left behind.
live_ok() {
	local l
	wait_for test -e sent
	until_screen '^all'
	run screen
	[ "$(grep -c '^all' <<<"$output")" -eq 1 ]
	run widths
	while read -r l; do
		[ "${l%% *}" -lt "$1" ]
	done <<<"$output"
	touch go
	wait_for test -e rc
	run screen
	[[ "$output" != *"█"* && "$output" != *"░"* ]]
}

@test "very narrow terminals: live lines never wrap, old bars never pile up" {
	steps
	local cols
	for cols in 10 16 24; do
		rm -f sent go rc
		on_tty "./steps | filmeto-watch >/dev/null" "$cols" 12
		live_ok "$cols"
		tmux -L "$sock" kill-server
	done
}

@test "short terminals: the live lines and the cursor fit in the rows there are" {
	steps
	local rows
	for rows in 2 3; do
		rm -f sent go rc
		on_tty "./steps | filmeto-watch >/dev/null" 60 "$rows"
		wait_for test -e sent
		until_screen '^all'
		run screen
		[ "$(grep -c '^all' <<<"$output")" -eq 1 ]
		touch go
		wait_for test -e rc
		tmux -L "$sock" kill-server
	done
}

@test "wide characters and emoji are counted by their width on the screen" {
	steps
	local cols names="TOOL='画像生成ツール' PLUGIN='🎬🎬🎬カチンコ' MESSAGE='進捗 🎞 é日本語テキスト'"
	# At 30 columns the tool and the note give way to the bar and the numbers.
	for cols in 30 60; do
		rm -f sent go rc
		on_tty "$names ./steps | filmeto-watch >/dev/null" "$cols" 12
		until_screen "$([ "$cols" -lt 60 ] && echo '^  s1 ' || echo '画像')"
		live_ok "$cols"
		tmux -L "$sock" kill-server
	done
}

@test "control characters and escape sequences in messages never reach the terminal" {
	steps
	# Clear screen, cursor home, a window title, a colour, an 8-bit CSI,
	# a bidirectional override, a backspace and a bell, as JSON escapes.
	local msg='a\u001b[2J\u001b[Hb\u001b]0;pwned\u0007c\u001b[31md\u009b2Je\u202ef\bg\u0007h'
	touch go
	script -qfec "MESSAGE='$msg' ./steps | filmeto-watch >/dev/null" /dev/null >raw || true
	run ! grep -qF $'\e[2J' raw
	run ! grep -qF $'\e[H' raw
	run ! grep -qF $'\e]' raw
	run ! grep -qF 'pwned' raw
	run ! grep -qF $'\xc2\x9b' raw
	run ! grep -qF $'\xe2\x80\xae' raw
	run ! grep -qF $'\a' raw
	run ! grep -qF $'\b' raw
	grep -qF 'a��b�c�d�e�f�g�h' raw
	# The same on a screen: the text is there, its sequences are not.
	rm -f sent go rc
	on_tty "MESSAGE='$msg' ./steps | filmeto-watch >/dev/null" 100 12
	wait_for test -e sent
	until_screen 'render: a'
	run screen
	[[ "$output" == *"render: a��b�c�d�e�f�g�h"* ]]
	[[ "$output" != *"[2J"* && "$output" != *"pwned"* ]]
	touch go
	wait_for test -e rc
}

# A planned film of 17 tasks drawn at 40 columns: 3 done, two running
# (a long id with a long note, a retry), then after ./go a failure with a
# long message and the film, both under a long directory.
plan40() {
	{
		echo '#!/bin/sh'
		declare -f ev
		cat <<'EOF'
dir=/home/someone/a-very-long-directory-name
long=scene-four-with-an-uncommonly-long-task-id
echo '{"type":"plan","tasks":17,"film_task_id":"film"}'
ev completed s1 ",\"execution_time\":1,\"output_files\":[\"$dir/scene-1.png\"]"
ev completed s2 ',"execution_time":1,"output_files":["/tmp/s2.png"]'
ev completed s3 ',"execution_time":1,"output_files":["/tmp/s3.png"]'
ev started $long ',"tool_name":"text2image","plugin_name":"titlecard"'
ev progress $long ',"percent":0,"stage":"render","message":"a note far too long for forty columns"'
ev started s5 ',"tool_name":"text2speak","plugin_name":"espeak","attempt":2'
while [ ! -e go ]; do sleep 0.05; done
ev failed s5 ',"error":{"code":"TIMEOUT_ERROR","message":"the service did not answer within thirty seconds, twice"}'
ev completed $long ',"execution_time":1,"output_files":["/tmp/s4.png"]'
ev started film ',"tool_name":"combine","plugin_name":"builtin"'
ev completed film ",\"execution_time\":1,\"output_files\":[\"$dir/hello.mp4\"]"
EOF
	} >plan40
	chmod +x plan40
}

@test "at 40 columns every line fits: bars shrink, text is cut with …, paths keep their name" {
	plan40
	on_tty "./plan40 | filmeto-watch >/dev/null" 40 24
	# The plan's 17 tasks are the total from the start: 3 done is 17%, not 60%.
	until_screen '^all \[.*\]  17%  3/17 done, 2 ru'
	run screen
	[[ "$output" == *"✓ s1 1.0s …/scene-1.png"* ]]
	[[ "$output" == *"↻ s5 retry, attempt 2"* ]]
	# The long id is cut in its column, the note after the numbers.
	grep -qE '^  scene-four-w… \[.*\]   0% [0-9]+s  re[a-z]*…$' <<<"$output"
	run widths
	while read -r l; do
		[ "${l%% *}" -lt 40 ]
	done <<<"$output"
	touch go
	wait_for test -e rc
	[ "$(cat rc)" -eq 1 ]
	run screen
	[[ "$output" == *"✗ s5 "*"s TIMEOUT_ERROR: the"*"…"* ]]
	[[ "$output" == *"✓ film 1.0s …/hello.mp4"* ]]
	[[ "$output" == *"filmeto-watch: film …/hello.mp4"* ]]
	[[ "$output" == *"filmeto-watch: output …/scene-1.png"* ]]
	# The failure's message and the counts are not cut: they wrap at spaces.
	[[ "$output" == *"within thirty"* && "$output" == *"twice"* ]]
	[[ "$output" == *"6 tasks (17 planned): 5"* ]]
	run widths
	while read -r l; do
		[ "${l%% *}" -lt 40 ]
	done <<<"$output"
}

@test "with a plan, the overall bar says 100% only when every task has ended" {
	# Sixteen of 17 done and the film at 93%: 99.6%, which is not done.
	{
		echo '{"type":"plan","tasks":17,"film_task_id":"film"}'
		for i in $(seq 16); do ev completed "t$i"; done
		ev started film ',"tool_name":"combine","plugin_name":"builtin"'
		ev progress film ',"percent":93'
	} >in
	on_tty "{ cat in; sleep 30; } | filmeto-watch >/dev/null"
	until_screen '^all \[.*\]  99%  16/17 done, 1 running'
	run screen
	[[ "$output" != *"100%"* ]]
	# Nor is its bar full.
	grep -q '^all \[█*░\]  99%' <<<"$output"
}
