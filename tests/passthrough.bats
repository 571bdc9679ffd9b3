#!/usr/bin/env bats
# Every binary passes on the lines it does not consume byte for byte: a CR
# before the LF stays, a last line without a newline stays without one, and
# a line of its own after such a line still starts a line of its own.

load test_helper

setup() {
	common_setup
	# CRLF, LF, a CR inside a line, bytes that are not UTF-8, a NUL, text
	# that is no JSON; the last line has no newline.
	printf '{"type":"note","n":1}\r\n{"type":"note","n":2}\n{"type":"odd","s":"a\rb"}\r\n' > in
	printf 'not json \xff\xfe\x00 at all\r\n\r\n{"type":"last","n":3}\r' >> in
}

crlf_task() { # ID
	printf '{"type":"task","task_id":"%s","tool_name":"text2text","plugin_name":"pyfilmeto","parameters":{"text":"hi","mode":"echo"}}\r\n' "$1"
}

# Every line of FILE is JSON, or one of the lines of ./in.
whole_lines() {
	python3 - "$1" <<'PY'
import json, sys
mine = open("in", "rb").read().split(b"\n") + open("json", "rb").read().split(b"\n")
for l in open(sys.argv[1], "rb").read().split(b"\n"):
    if l and l not in mine and l + b"\r" not in mine:
        json.loads(l, strict=False)
PY
}

@test "filmeto-watch copies the stream byte for byte" {
	# Bytes that name no task: --allow-empty says that is what is meant.
	filmeto-watch --allow-empty < in > out 2>/dev/null
	cmp in out
	# One file after another: the second starts on a line of its own.
	filmeto-watch --allow-empty in in > out2 2>/dev/null
	cmp <(cat in; echo; cat in) out2
}

@test "filmeto-run passes on what is not a task byte for byte, around its own lines" {
	# filmeto-run fails a line that is not JSON, so only objects here.
	grep -a '^{' in > json
	printf '{"type":"note","s":"\xc3\xa9"}\r\n{"x":1}\r' >> json
	filmeto-run -d outdir < json > passed
	cmp json passed
	# With tasks (CRLF task lines too) the lines interleave, never run together.
	{ crlf_task t1; cat json; } | filmeto-run -d outdir > events
	whole_lines events
	grep -a '"type":"completed"' events > done
	[ "$(jget done 'by("completed")[0]["task_id"]')" = t1 ]
	[ "$(grep -a -c $'\r$' events)" -eq "$(grep -a -c $'\r$' json)" ]
	[ "$(grep -a -c -x '{"x":1}'$'\r' events)" -eq 1 ]
}

@test "filmeto-submit --each passes on every upstream line byte for byte" {
	filmeto-submit --each -t text2text -P pyfilmeto -p text=x < in > out
	cmp in out
	# A completed line still yields its task, after the line, on a line of its own.
	{ cat in; printf '\n{"type":"completed","task_id":"up","output_files":[]}'; } > in2
	filmeto-submit --each -t text2text -P pyfilmeto -p text=x < in2 > out2
	[ "$(head -c "$(wc -c < in2)" out2 | cmp - in2 && echo same)" = same ]
	tail -n 1 out2 > made
	[ "$(jget made 'lines[0]["task_id"]')" = up-text2text ]
}
