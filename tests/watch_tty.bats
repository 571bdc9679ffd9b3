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
	cat >gen <<'EOF'
#!/bin/sh
ev() { printf '{"type":"%s","task_id":"%s","timestamp":"2026-11-21T10:00:00.000Z"%s}\n' "$1" "$2" "${3:-}"; }
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
	chmod +x gen
}

teardown() {
	tmux -L "$sock" kill-server 2>/dev/null || true
}

# on_tty COMMAND: runs COMMAND in a 100x20 tmux pane; its status goes to ./rc.
on_tty() {
	tmux -L "$sock" -f /dev/null new-session -d -x 100 -y 20 -s w \
		"PATH='$PATH'; cd '$PWD'; $1; echo \$? >rc.tmp; mv rc.tmp rc; sleep 60"
}

screen() {
	tmux -L "$sock" capture-pane -p -t w
}

# until_screen PATTERN: waits (at most 10s) until the screen matches.
until_screen() {
	local i
	for i in $(seq 200); do
		screen | grep -qE -- "$1" && return 0
		sleep 0.05
	done
	screen
	return 1
}

until_done() {
	local i
	for i in $(seq 200); do
		[ -e rc ] && return 0
		sleep 0.05
	done
	return 1
}

@test "live lines: an overall bar, a bar per running task, then summary lines" {
	on_tty "./gen | filmeto-watch >events"
	until_screen '^  s1 +text2image/titlecard \[.*\]  50% .*render: drawing'
	run screen
	[[ "$output" == *"all ["*"]  10%  0/3 done, 2 running"* ]]
	[[ "$output" == *"  s2 "*"text2speak/espeak ["*"]   0%"* ]]
	touch go
	until_done
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
	tmux -L "$sock" resize-window -t w -x 60
	until_screen '^all \[.*\]  10%  0/3 done, 2 runn$'
	run screen
	[[ "${lines[1]}" == "  s1 text2image/titlecard ["*"]  50% "* ]]
	local l
	for l in "${lines[@]}"; do
		[ "${#l}" -lt 60 ]
	done
	touch go
	until_done
}

@test "Ctrl-C: the live lines are erased, the summary printed, status 130" {
	# The shell and the generator ignore SIGINT, so the status is watch's own.
	on_tty "trap '' INT; ./gen | filmeto-watch >/dev/null"
	until_screen 'render: drawing'
	tmux -L "$sock" send-keys -t w C-c
	until_screen 'wall time'
	touch go
	until_done
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
