#!/usr/bin/env bats
# filmeto-serve's page and films route: GET / and its files with curl
# (types, CSP, refused paths), POST /api/v1/films (queued whole, bad YAML,
# problems by scene, keys and files), and the page in a real browser
# (Debian's chromium through playwright-core, tests/web_page.mjs) queueing
# the demo storyboard and playing the film.

load test_helper
load serve_helper

setup() {
	common_setup
	export FILMETO_SPOOL="$BATS_TEST_TMPDIR/spool"
	SP=$FILMETO_SPOOL
	SERVE_PID=
}

teardown() {
	serve_teardown
}

ALICE=alice-key-0123456789abcdef
BOB=bob-key-0123456789abcdef
ROOT_KEY=root-key-0123456789abcdef
DEMO=$ROOT/share/filmeto/examples/hello.yaml

# A storyboard of two short title-card scenes: quick to check and to render.
tiny() {
	cat <<-EOF
		title: Tiny
		size: 320x180
		fps: 10
		scenes:
		  - id: one
		    prompt: "One"
		    duration: 1
		  - id: two
		    prompt: "Two"
		    duration: 1
	EOF
}

# header NAME: the value of a header of the last `curl -D headers` answer.
header() {
	awk -v n="$1" 'BEGIN { IGNORECASE = 1 } index(tolower($0), tolower(n) ":") == 1 {
		sub(/^[^:]*: */, ""); sub(/\r$/, ""); print }' headers
}

@test "GET / is the page: HTML with a CSP of 'self', nosniff, its files typed; no key needed" {
	keys k "alice $ALICE"
	serve --key-file k --workers 0
	[ "$(curl -s -D headers -o page -w '%{http_code}' "$URL/")" = 200 ]
	[ "$(header Content-Type)" = "text/html; charset=utf-8" ]
	[[ "$(header Content-Security-Policy)" == "default-src 'self'; "* ]]
	[[ "$(header Content-Security-Policy)" != *"unsafe"* ]]
	[ "$(header X-Content-Type-Options)" = nosniff ]
	grep -q '<script src="/web/app.js"' page
	# Nothing the page loads comes from elsewhere.
	! grep -Eq '(src|href)="(https?:)?//' page "$ROOT"/share/filmeto/web/*
	[ "$(curl -s -D headers -o /dev/null -w '%{http_code}' "$URL/web/app.js")" = 200 ]
	[ "$(header Content-Type)" = "text/javascript; charset=utf-8" ]
	[ "$(header X-Content-Type-Options)" = nosniff ]
	[ "$(curl -s -D headers -o /dev/null -w '%{http_code}' "$URL/web/style.css")" = 200 ]
	[ "$(header Content-Type)" = "text/css; charset=utf-8" ]
	grep -q 'prefers-color-scheme: dark' "$ROOT/share/filmeto/web/style.css"
	# The API still wants the key.
	[ "$(api GET /api/v1/tasks)" = 401 ]
	[ "$(api POST /)" = 405 ]
}

@test "the page's paths: .., %2e%2e, a hidden name and a folder are refused; a missing file is 404" {
	serve --workers 0
	[ "$(curl -s --path-as-is -o body -w '%{http_code}' "$URL/web/../README.md")" = 404 ]
	! grep -q filmeto-serve body
	[ "$(api GET /web/%2e%2e)" = 400 ]
	[ "$(api GET /web/%2e%2e%2fREADME.md)" = 400 ]
	[ "$(api GET /web/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd)" = 400 ]
	! grep -q root: body
	[ "$(api GET /web/.hidden.js)" = 400 ]
	[ "$(api GET /web/)" = 400 ]
	[ "$(api GET /web/nothere.js)" = 404 ]
	[ "$(field 'b["error"]["message"]')" = "no such file" ]
	[ "$(api GET /web/Makefile)" = 404 ]
	[ "$(curl -s --path-as-is -o /dev/null -w '%{http_code}' "$URL/index.html/../web/app.js")" = 404 ]
}

@test "POST /api/v1/films queues a storyboard whole: 201 with the film's id and every task's" {
	serve --workers 0
	tiny >tiny.yaml
	[ "$(api POST /api/v1/films --data-binary @tiny.yaml -H 'Content-Type: application/yaml')" = 201 ]
	film=$(field 'b["film_task_id"]')
	[[ "$film" == film-*-film ]]
	[ "$(field 'b["tasks"]')" = 5 ]
	[ "$(field 'b["film_task_id"] == b["task_ids"][-1]')" = true ]
	[ "$(state "$film")" = queued ]
	[ "$(ls "$SP"/queue | wc -l)" = 5 ]
	# Each body is a new film: the same storyboard again is queued beside it.
	[ "$(api POST /api/v1/films --data-binary @tiny.yaml)" = 201 ]
	[ "$(field 'b["film_task_id"]')" != "$film" ]
	# JSON too, and a storyboard's own id names its tasks.
	[ "$(api POST /api/v1/films --data-binary '{"id":"mine","scenes":[{"prompt":"A"}]}')" = 201 ]
	[ "$(field 'b["film_task_id"]')" = mine-film ]
	[ "$(api POST /api/v1/films --data-binary '{"id":"mine","scenes":[{"prompt":"A"}]}')" = 422 ]
	[[ "$(field 'b["error"]["message"]')" == *"already"* ]]
}

@test "POST /api/v1/films: bad YAML is 400, an empty body 400, a storyboard past its limit 413" {
	serve --workers 0
	[ "$(api POST /api/v1/films --data-binary $'scenes: [\n')" = 400 ]
	[ "$(field 'b["error"]["code"]')" = VALIDATION_ERROR ]
	[[ "$(field 'b["error"]["message"]')" == storyboard:2:* ]]
	[ "$(api POST /api/v1/films --data-binary '')" = 400 ]
	[[ "$(field 'b["error"]["message"]')" == *"empty"* ]]
	head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' '#' >big.yaml
	[ "$(api POST /api/v1/films --data-binary @big.yaml)" = 413 ]
	[ "$(api GET /api/v1/films)" = 405 ]
	[ "$(ls "$SP"/queue 2>/dev/null | wc -l)" = 0 ]
}

@test "POST /api/v1/films: every problem at once, 422, each with its scene and field" {
	serve --workers 0
	printf 'size: big\nscenes:\n  - prompt: a\n    transition: wipe\n  - duration: 9999\n' >bad.yaml
	[ "$(api POST /api/v1/films --data-binary @bad.yaml)" = 422 ]
	[[ "$(field 'b["error"]["message"]')" == *"problems"* ]]
	[ "$(field '[p.get("field") for p in b["error"]["details"]["problems"] if "scene" not in p and "field" in p]')" = '["size"]' ]
	[ "$(field '[(p["scene"], p["field"]) for p in b["error"]["details"]["problems"] if "scene" in p]')" = '[[1, "transition"], [2, "duration"], [2, "prompt"]]' ]
	[[ "$(field 'b["error"]["details"]["problems"][1]["message"]')" == "storyboard:3: scene 1: transition: "* ]]
	[ "$(ls "$SP"/queue 2>/dev/null | wc -l)" = 0 ]
}

@test "POST /api/v1/films: the key's name is recorded; a key that is not admin may name no file" {
	keys k "alice $ALICE" "bob $BOB" "root $ROOT_KEY admin"
	serve --key-file k --workers 0
	[ "$(api POST /api/v1/films --data-binary "$(tiny)")" = 401 ]
	[ "$(api POST /api/v1/films -H "Authorization: Bearer $ALICE" --data-binary "$(tiny)")" = 201 ]
	film=$(field 'b["film_task_id"]')
	grep -q '"queued_by":"alice"' "$SP"/queue/*."$film"
	[ "$(api GET "/api/v1/tasks/$film" -H "Authorization: Bearer $BOB")" = 404 ]
	[ "$(state "$film" -H "Authorization: Bearer $ALICE")" = queued ]
	# A file of the server's, there or not, is refused alike: nothing is learnt of it.
	for f in /etc/hostname /nonexistent.png; do
		printf 'scenes:\n  - image: %s\n' "$f" >files.yaml
		[ "$(api POST /api/v1/films -H "Authorization: Bearer $BOB" --data-binary @files.yaml)" = 422 ]
		[[ "$(field 'b["error"]["details"]["problems"][0]["message"]')" == *"image: a file path is not taken here"* ]]
		[ "$(field 'b["error"]["details"]["problems"][0]["field"]')" = image ]
	done
	# An admin's absolute path is taken; a relative one has no folder to be in.
	printf 'scenes:\n  - image: %s\n' "$ROOT/share/filmeto/examples/hello-contact.png" >files.yaml
	[ "$(api POST /api/v1/films -H "Authorization: Bearer $ROOT_KEY" --data-binary @files.yaml)" = 201 ]
	printf 'scenes:\n  - image: hello-contact.png\n' >files.yaml
	[ "$(api POST /api/v1/films -H "Authorization: Bearer $ROOT_KEY" --data-binary @files.yaml)" = 422 ]
	[[ "$(field 'b["error"]["message"]')" == *"is relative"* ]]
}

@test "the page in chromium: the demo storyboard queued, bars move, the film plays at its length" {
	[ -x /usr/bin/chromium ] || { echo "no /usr/bin/chromium: make deps installs it" >&2; false; }
	needs_node_client playwright-core
	serve --workers 1
	printf 'size: big\nscenes:\n  - prompt: a\n    transition: wipe\n' >bad.yaml
	run --separate-stderr node "$ROOT/tests/web_page.mjs" "$URL/" "$DEMO" shot.png bad.yaml
	echo "$output" | head -c 4000
	echo "$stderr" | head -c 2000
	[ "$status" -eq 0 ]
	echo "$output" >seen.json
	cp seen.json body
	[ "$(field 'b["status"]')" = 200 ]
	[ "$(field 'b["light"]')" = "rgb(247, 247, 245)" ]
	[ "$(field 'b["dark"]')" = "rgb(20, 21, 23)" ]
	# The bad storyboard's problems shown by scene and field.
	[ "$(field 'b["problemHeads"][:2]')" = '["The film", "Scene 1"]' ]
	[ "$(field '[(p["scene"], p["field"]) for p in b["problems"]][:2]')" = '[["", "size"], ["1", "transition"]]' ]
	# A bar showed a value between 0 and 100: it moved while the film was made.
	[ "$(field 'b["moved"]')" = true ]
	film=$(field 'b["film"]')
	[[ "$film" == film-*-film ]]
	[ "$(field 'b["filmDone"]')" = 100 ]
	[ "$(field 'b["rows"]')" = 17 ]
	[ "$(field 'b["done"]')" = 17 ]
	# The <video>'s duration is the served film's, as ffprobe reads it.
	curl -sf -o film.mp4 "$URL/api/v1/tasks/$film/files/0"
	want=$(duration film.mp4)
	python3 -c 'import json, sys; d = json.load(open("seen.json"))["duration"]; sys.exit(abs(d - float(sys.argv[1])) > 0.1)' "$want"
	[ "$(field 'b["contactWidth"] > 100')" = true ]
	[ "$(field '[f["text"] for f in b["files"]][:3]')" = '["film.mp4", "film.srt", "film-contact.png"]' ]
	# The screenshot is a page, not a blank: many colours at a phone's width.
	[ "$(ffprobe -v error -show_entries stream=width -of csv=p=0 shot.png)" = 390 ]
	colours=$(ffmpeg -v error -i shot.png -f rawvideo -pix_fmt rgb24 - |
		python3 -c 'import sys; d = sys.stdin.buffer.read(); print(len({d[i:i + 3] for i in range(0, len(d), 3)}))')
	echo "colours: $colours"
	[ "$colours" -gt 50 ]
}

@test "the page in chromium with a key: asked for, sent in headers only, the film fetched with it" {
	[ -x /usr/bin/chromium ] || { echo "no /usr/bin/chromium: make deps installs it" >&2; false; }
	needs_node_client playwright-core
	keys k "alice $ALICE"
	serve --key-file k --workers 1
	tiny >tiny.yaml
	KEY=$ALICE run --separate-stderr node "$ROOT/tests/web_page.mjs" "$URL/" tiny.yaml shot.png
	echo "$output" | head -c 4000
	echo "$stderr" | head -c 2000
	[ "$status" -eq 0 ]
	echo "$output" >body
	# A <video> cannot send the key: the page plays what it fetched with it.
	[[ "$(field 'b["videoSrc"]')" == blob:* ]]
	# Before the key, the empty queue says why it is empty.
	[[ "$(field 'b["emptyBeforeKey"]')" == *"once a key is given"* ]]
	python3 -c 'import json, sys; d = json.load(open("body"))["duration"]; sys.exit(abs(d - 2.0) > 0.15)'
	[ "$(field 'b["rows"]')" = 5 ]
	[ "$(field '[u for u in b["urls"] if "alice" in u]')" = '[]' ]
	film=$(field 'b["film"]')
	grep -q '"queued_by":"alice"' "$SP"/done/*."$film"
	! grep -q "$ALICE" serve.err
}
