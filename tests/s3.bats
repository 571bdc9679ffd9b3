#!/usr/bin/env bats
# Object storage: s3:// inputs and results against s3rver (npm, pinned by
# tests/package.json), one per file on a free loopback port with its own
# folder. s3rver 3.7 checks the access key id but not SigV4 signatures
# (its authentication.js leaves them unimplemented): the signature of a
# presigned URL is checked against AWS's own example in the unit tests.
# Nor does it abort or list multipart uploads: tests/fakes/fake_s3sig.py
# checks signatures and keeps multipart uploads as S3 does.

load test_helper
load serve_helper

# Distinctive, so a grep finds them anywhere they leak.
SECRET=sekrit-8d2f4a61c0e94b7f
TOKEN=tokn-3b9e7c15a2d8f046

s3_up() { curl -s -o /dev/null "http://127.0.0.1:$S3PORT/"; }

setup_file() {
	needs_node_client s3rver
	S3PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	export S3PORT
	mkdir -p "$BATS_FILE_TMPDIR/s3"
	"$ROOT/tests/node_modules/.bin/s3rver" -d "$BATS_FILE_TMPDIR/s3" -a 127.0.0.1 -p "$S3PORT" \
		--configure-bucket films --configure-bucket inputs >"$BATS_FILE_TMPDIR/s3rver.log" 2>&1 &
	echo $! >"$BATS_FILE_TMPDIR/s3rver.pid"
	wait_for -t 30 s3_up
	# An input object, put there by plain curl.
	ffmpeg -v error -y -f lavfi -i "testsrc2=s=320x180:d=1" -frames:v 1 "$BATS_FILE_TMPDIR/in.png"
	curl -sf --aws-sigv4 aws:amz:us-east-1:s3 --user "S3RVER:$SECRET" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -T "$BATS_FILE_TMPDIR/in.png" \
		"http://127.0.0.1:$S3PORT/inputs/pics/in.png"
}

teardown_file() {
	kill "$(cat "$BATS_FILE_TMPDIR/s3rver.pid")" 2>/dev/null || true
}

setup() {
	common_setup
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
	export HOME="$BATS_TEST_TMPDIR/home"
	mkdir -p "$HOME"
	export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=$SECRET
	export AWS_ENDPOINT_URL="http://127.0.0.1:$S3PORT"
	unset AWS_SESSION_TOKEN AWS_PROFILE AWS_REGION AWS_DEFAULT_REGION AWS_ENDPOINT_URL_S3
}

teardown() {
	serve_teardown
	stop_fakes
}

board() {
	cat >"$1" <<YAML
title: Small film
size: 320x180
fps: 25
scenes:
  - id: one
    ${2:-prompt: "One"}
    narration: "Hello there."
    duration: 1
  - id: two
    prompt: "Two"
    duration: 1
YAML
}

# no_leaks: the secret and the token are nowhere under the test's folder
# (outputs, events, logs, the cache, the spool), but in ~/.aws, where
# the user put them.
no_leaks() {
	! grep -r -l -a --exclude-dir=.aws -e "$SECRET" -e "$TOKEN" "$BATS_TEST_TMPDIR"
}

@test "-o s3:// uploads the film and its sidecars; the presigned URL serves the same bytes" {
	board film.yaml
	filmeto-submit --storyboard film.yaml | filmeto-run -o s3://films/out/hello.mp4 >events 2>err
	holds events \
		'by("completed")[-1]["task_id"] == "film-film"' \
		'all(r["metadata"]["s3_uri"] == "s3://films/out/" + r["path"].split("/filmeto-out/")[1] for r in by("completed")[-1]["output_resources"])' \
		'sorted(r["metadata"]["s3_uri"].split("/out/")[1] for r in by("completed")[-1]["output_resources"]) == ["hello-contact.png", "hello-thumbs/01-film-one.png", "hello-thumbs/02-film-two.png", "hello.json", "hello.mp4", "hello.srt"]' \
		'all(r["url"].startswith("http://127.0.0.1:") and "X-Amz-Signature=" in r["url"] and "X-Amz-Expires=3600" in r["url"] for r in by("completed")[-1]["output_resources"])' \
		'by("completed")[-1]["output_files"][0].endswith("/filmeto-out/hello.mp4")'
	[ -s filmeto-out/hello.mp4 ]
	url=$(final film-film '["output_resources"][0]["url"]')
	curl -sf "$url" -o got.mp4
	cmp got.mp4 filmeto-out/hello.mp4
	url=$(final film-film '["output_resources"][1]["url"]')
	curl -sf "$url" | cmp - filmeto-out/hello.srt
	no_leaks
}

@test "--url-ttl sets the URLs' lifetime; --upload puts each task's outputs under PREFIX/TASK_ID/" {
	filmeto-submit -t text2image -p prompt=hi --id card1 |
		filmeto-run --upload s3://films/runs/r1 --url-ttl 60 >events
	holds events \
		'one("completed", "card1")["output_resources"][0]["metadata"]["s3_uri"] == "s3://films/runs/r1/card1/card.png"' \
		'"X-Amz-Expires=60&" in one("completed", "card1")["output_resources"][0]["url"]'
	curl -sf "$(final card1 '["output_resources"][0]["url"]')" | cmp - filmeto-out/card1/card.png
}

@test "an input image and a -r resource are read from s3:// into the download cache" {
	board film.yaml 'image: s3://inputs/pics/in.png'
	filmeto-submit --storyboard film.yaml | filmeto-run -o film.mp4 >events
	holds events 'by("completed")[-1]["task_id"] == "film-film"' 'not by("failed")'
	[ "$(ls "$XDG_CACHE_HOME/filmeto/downloads" | grep -c '\.png$')" -eq 1 ]
	filmeto-submit -t image2video -r s3://inputs/pics/in.png -p duration=1 --id clip | filmeto-run >events
	[ "$(final clip '["status"]')" = success ]
	no_leaks
}

@test "a missing object is a RESOURCE_PROCESSING_ERROR naming bucket, key and NoSuchKey" {
	run -1 sh -c 'filmeto-submit -t image2video -r s3://inputs/pics/nope.png -p duration=1 --id clip | filmeto-run >events'
	[ "$(final clip '["error"]["code"]')" = RESOURCE_PROCESSING_ERROR ]
	[ "$(final clip '["error"]["message"]')" = "cannot fetch 's3://inputs/pics/nope.png': NoSuchKey (status 404): The specified key does not exist." ]
	[ "$(final clip '["error"]["details"]["s3_code"]')" = NoSuchKey ]
}

@test "a missing bucket fails the film with SERVICE_ERROR and keeps the local copy" {
	board film.yaml
	run -1 sh -c 'filmeto-submit --storyboard film.yaml | filmeto-run -o s3://nobucket/f/hello.mp4 >events'
	[ "$(final film-film '["error"]["code"]')" = SERVICE_ERROR ]
	[ "$(final film-film '["error"]["message"]')" = "cannot upload to 's3://nobucket/f/hello.mp4': NoSuchBucket (status 404): The specified bucket does not exist; the local copy stays at '$PWD/filmeto-out/hello.mp4'" ]
	[ "$(final film-film '["error"]["details"]["bucket"]')" = nobucket ]
	[[ "$(final film-film '["error"]["details"]["body"]')" == *"<Code>NoSuchBucket</Code>"* ]]
	[ -s filmeto-out/hello.mp4 ]
}

@test "an unknown access key id is S3's InvalidAccessKeyId, one line" {
	export AWS_ACCESS_KEY_ID=NOTME
	run -1 sh -c 'filmeto-submit -t text2image -p prompt=hi --id card1 | filmeto-run --upload s3://films/x/ >events'
	[ "$(final card1 '["error"]["message"]')" = "cannot upload to 's3://films/x/card1/card.png': InvalidAccessKeyId (status 403): The AWS Access Key Id you provided does not exist in our records.; the local copy stays at '$PWD/filmeto-out/card1/card.png'" ]
	no_leaks
}

@test "an unreachable endpoint says so, naming the object" {
	export AWS_ENDPOINT_URL=http://127.0.0.1:9
	run -1 sh -c 'filmeto-submit -t text2image -p prompt=hi --id card1 | filmeto-run --upload s3://films/x/ >events'
	[[ "$(final card1 '["error"]["message"]')" == "cannot upload to 's3://films/x/card1/card.png': cannot connect to 'http://127.0.0.1:9/films/x/card1/card.png'"* ]]
}

@test "a session token signs requests but is never written: no presigned URL carries it" {
	export AWS_SESSION_TOKEN=$TOKEN
	filmeto-submit -t text2image -p prompt=hi --id card1 | filmeto-run --upload s3://films/tok/ >events 2>err
	holds events \
		'one("completed", "card1")["output_resources"][0]["metadata"]["s3_uri"] == "s3://films/tok/card1/card.png"' \
		'"url" not in one("completed", "card1")["output_resources"][0]'
	no_leaks
}

@test "keys, region and endpoint come from a profile in ~/.aws" {
	unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_ENDPOINT_URL
	mkdir -p "$HOME/.aws"
	printf '[default]\naws_access_key_id = NOTME\naws_secret_access_key = x\n[work]\naws_access_key_id = S3RVER\naws_secret_access_key = %s\n' \
		"$SECRET" >"$HOME/.aws/credentials"
	printf '[profile work]\nregion = eu-north-1\ns3 =\n    endpoint_url = http://127.0.0.1:%s\n    addressing_style = path\n' \
		"$S3PORT" >"$HOME/.aws/config"
	AWS_PROFILE=work filmeto-submit -t text2image -p prompt=hi --id card1 |
		AWS_PROFILE=work filmeto-run --upload s3://films/prof/ >events
	holds events '"%2Feu-north-1%2Fs3%2F" in one("completed", "card1")["output_resources"][0]["url"]'
	curl -sf "$(final card1 '["output_resources"][0]["url"]')" | cmp - filmeto-out/card1/card.png
	no_leaks
}

@test "no keys, a bad URI, a bad lifetime: usage errors before any work" {
	unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
	run -2 filmeto-run --upload s3://films/x/ </dev/null
	[[ "$output" == *"no S3 credentials"*"profile 'default'"* ]]
	export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=$SECRET
	run -2 filmeto-run -o s3://Films/x.mp4 </dev/null
	[[ "$output" == *"lowercase"* ]]
	run -2 filmeto-run -o s3://films/x.gif </dev/null
	run -2 filmeto-run --upload s3://films/ --url-ttl 604801 </dev/null
	printf '[default]\nthis is no ini\n' >bad.ini
	unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
	AWS_SHARED_CREDENTIALS_FILE=$PWD/bad.ini run -2 filmeto-run --upload s3://films/ </dev/null
	[[ "$output" == *"bad.ini:2: expected 'key = value'"* ]]
}

@test "a spool worker with --upload uploads what it runs; nothing anywhere holds a key" {
	export FILMETO_SPOOL="$BATS_TEST_TMPDIR/spool"
	filmeto-submit --queue -t text2image -p prompt=hi --id card1 >/dev/null
	filmeto-run --spool --drain --upload s3://films/spool/ 2>err
	filmeto-watch --status card1 >status
	holds status \
		'lines[0]["result"]["output_resources"][0]["metadata"]["s3_uri"] == "s3://films/spool/card1/card.png"' \
		'"X-Amz-Signature=" in lines[0]["result"]["output_resources"][0]["url"]'
	curl -sf "$(jget status 'lines[0]["result"]["output_resources"][0]["url"]')" |
		cmp - "$FILMETO_SPOOL/out/card1/card.png"
	no_leaks
}

@test "filmeto-serve --upload: its workers upload what they run; the status carries the URL; a bad prefix is a usage error" {
	export FILMETO_SPOOL="$BATS_TEST_TMPDIR/spool"
	run -2 filmeto-serve --upload s3:/films
	[[ "$output" == *"--upload: 's3:/films' is not an s3:// URI"* ]]
	run -2 filmeto-serve --url-ttl 60
	[[ "$output" == *"give --upload too"* ]]
	serve --upload s3://films/served --url-ttl 120
	[ "$(api POST /api/v1/tasks --data-binary '{"task_id":"card1","tool_name":"text2image","plugin_name":"titlecard","parameters":{"prompt":"hi"}}')" = 201 ]
	wait_for -t 30 eval '[ "$(state card1)" = done ]'
	[ "$(api GET /api/v1/tasks/card1)" = 200 ]
	[ "$(field 'b["result"]["output_resources"][0]["metadata"]["s3_uri"]')" = s3://films/served/card1/card.png ]
	url=$(field 'b["result"]["output_resources"][0]["url"]')
	[[ "$url" == *"X-Amz-Expires=120&"* ]]
	curl -sf "$url" | cmp - "$FILMETO_SPOOL/out/card1/card.png"
	no_leaks
}

# big ID [LINES]: a task whose output, out.txt, is LINES lines of 2 MiB
# (100: 200 MiB).
big() {
	local line
	line=$(printf '%02097151d' 0)
	task "$1" pyfilmeto text2text "{\"text\":\"$line\",\"repeat\":${2:-100}}"
}

# parts_logged KEY: parts of KEY that s3rver stored (its log names the path below the bucket).
parts_logged() { grep -ac "/$1?partNumber=[0-9]*&uploadId=[0-9a-f]* 200 " "$BATS_FILE_TMPDIR/s3rver.log"; }

@test "200 MiB goes up in 8 MiB parts, completed in order, the same bytes back" {
	export FILMETO_PLUGIN_PATH="$ROOT/tests/plugins"
	big mp1 | filmeto-run --upload s3://films/mp/ >events
	[ "$(final mp1 '["status"]')" = success ]
	[ "$(stat -c %s filmeto-out/mp1/out.txt)" -eq $((200 * 1024 * 1024)) ]
	[ "$(parts_logged mp/mp1/out.txt)" -eq 25 ]
	curl -sf "$(final mp1 '["output_resources"][0]["url"]')" | cmp - filmeto-out/mp1/out.txt
	no_leaks
}

@test "a cancel in the middle of a multipart upload aborts it: no object is made" {
	export FILMETO_PLUGIN_PATH="$ROOT/tests/plugins"
	big mp2 >tasks
	filmeto-run --upload s3://films/mpc/ tasks >events &
	pid=$!
	wait_for -t 30 sh -c "grep -aq '/mpc/mp2/out.txt?partNumber=' '$BATS_FILE_TMPDIR/s3rver.log'"
	kill -INT "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 130 ]
	[ "$(final mp2 '["status"]')" = cancelled ]
	[ "$(final mp2 '["error"]["code"]')" = TASK_CANCELLED ]
	[ "$(parts_logged mpc/mp2/out.txt)" -lt 25 ]
	# The abort was asked for (s3rver 3.7 answers DELETE ?uploadId= 405 and
	# cannot list uploads: that none is left is checked against the fake,
	# below) ...
	grep -aq "/mpc/mp2/out.txt?uploadId=[0-9a-f]* 405 " "$BATS_FILE_TMPDIR/s3rver.log"
	# ... and no object was made.
	run -22 curl -sf "http://127.0.0.1:$S3PORT/films/mpc/mp2/out.txt" -o /dev/null
}

# s3rver does not check SigV4; tests/fakes/fake_s3sig.py does, by AWS's
# description of it, for what libcurl signs and for presigned URLs.
sig_fake() {
	start_fake s3sig --id S3RVER --secret "$SECRET" "$@"
	export AWS_ENDPOINT_URL=$FAKE_URL
}

@test "against a SigV4 check: uploads, inputs and presigned URLs are signed right" {
	sig_fake
	filmeto-submit -t text2image -p prompt=hi --id card1 | filmeto-run --upload s3://films/sig/ >events
	[ "$(final card1 '["status"]')" = success ]
	curl -sf "$(final card1 '["output_resources"][0]["url"]')" | cmp - filmeto-out/card1/card.png
	filmeto-submit -t image2video -r "s3://films/sig/card1/card.png" -p duration=1 --id clip | filmeto-run >events
	[ "$(final clip '["status"]')" = success ]
	holds "$FAKE_LOG" 'len(lines) == 3' 'all(l["verdict"] == "ok" for l in lines)'
	stop_fakes
}

@test "a wrong secret is S3's SignatureDoesNotMatch, and the secret is nowhere" {
	sig_fake
	export AWS_SECRET_ACCESS_KEY=wrong-$SECRET
	run -1 sh -c 'filmeto-submit -t text2image -p prompt=hi --id card1 | filmeto-run --upload s3://films/sig/ >events'
	[[ "$(final card1 '["error"]["message"]')" == "cannot upload to 's3://films/sig/card1/card.png': SignatureDoesNotMatch (status 403)"* ]]
	[ "$(final card1 '["error"]["details"]["s3_code"]')" = SignatureDoesNotMatch ]
	stop_fakes
	no_leaks
}

@test "a session token is signed into every request" {
	sig_fake --token "$TOKEN"
	export AWS_SESSION_TOKEN=$TOKEN
	filmeto-submit -t text2image -p prompt=hi --id card1 | filmeto-run --upload s3://films/tok/ >events
	[ "$(final card1 '["status"]')" = success ]
	unset AWS_SESSION_TOKEN
	run -1 sh -c 'filmeto-submit -t text2image -p prompt=hi --id card2 | filmeto-run --upload s3://films/tok/ >events'
	[ "$(final card2 '["error"]["details"]["s3_code"]')" = InvalidToken ]
	holds "$FAKE_LOG" '"x-amz-security-token" in lines[0]["signed"].split(";")'
	stop_fakes
	no_leaks
}

@test "an s3:// resource S3 would refuse is a validation error before anything runs" {
	run -2 filmeto-submit -t image2video -r s3://Bad_Bucket/x.png -p duration=1
	[[ "$output" == *"resources[0].data: 's3://Bad_Bucket/x.png': a bucket is 3 to 63 lowercase letters"* ]]
}

@test "uploads run off the loop, several at once" {
	sig_fake --put-delay 1
	for i in 1 2 3 4; do echo_task "e$i"; done >tasks
	FILMETO_PLUGIN_PATH="$ROOT/tests/plugins" filmeto-run --upload s3://films/par/ tasks >events
	holds events 'len(by("completed")) == 4' \
		'all(lines.index([l for l in ev("progress", "e%d" % i) if l.get("stage") == "upload"][0]) < lines.index(one("completed", "e%d" % i)) for i in range(1, 5))'
	# Four PUTs, each held a second: begun within that second, they overlapped.
	holds "$FAKE_LOG" 'len(req("PUT", "/films/par/")) == 4' \
		'max(l["t"] for l in lines) - min(l["t"] for l in lines) < 1'
	stop_fakes
}

# mp_fake [ARGS...]: the SigV4 fake, which keeps multipart uploads as S3
# does and can abort and list them (s3rver 3.7 can neither).
mp_fake() {
	sig_fake "$@"
	export FILMETO_PLUGIN_PATH="$ROOT/tests/plugins"
}

# The multipart threshold lowered, so that 40 MiB (big ID 20) goes in 5 parts.
export_small_multipart() { export FILMETO_S3_MULTIPART_MIN=$((16 * 1024 * 1024)); }

# s3curl ARGS...: curl signing as filmeto's keys. curl 7.88 signs the
# query as written, so a query must be written in SigV4's canonical form
# (sorted, encoded, "name=").
s3curl() {
	curl -sf --aws-sigv4 aws:amz:us-east-1:s3 --user "S3RVER:$SECRET" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"
}

# uploads_left PREFIX: how many incomplete multipart uploads of keys
# starting with PREFIX (no slash) the fake lists in films
# (ListMultipartUploads).
uploads_left() {
	local xml
	xml=$(s3curl "$FAKE_URL/films?prefix=$1&uploads=") || return 1
	[[ "$xml" == *"<ListMultipartUploadsResult "*"<Prefix>$1</Prefix>"* ]] || return 1
	grep -o '<Upload>' <<<"$xml" | wc -l
}

@test "against S3's multipart API: 200 MiB in 25 parts, completed in order, the same bytes back, no upload left" {
	mp_fake
	# The listing sees an upload that is left: one begun by hand.
	s3curl -X POST "$FAKE_URL/films/left/x?uploads=" >/dev/null
	[ "$(uploads_left left)" -eq 1 ]
	big mpk | filmeto-run --upload s3://films/mpk/ >events
	[ "$(final mpk '["status"]')" = success ]
	holds "$FAKE_LOG" 'all(l["verdict"] == "ok" for l in lines)' \
		'len([l for l in lines if l["op"] == "UploadPart" and l["status"] == 200]) == 25' \
		'[l["status"] for l in lines if l["op"] == "CompleteMultipartUpload"] == [200]'
	s3curl "$FAKE_URL/films/mpk/mpk/out.txt" | cmp - filmeto-out/mpk/out.txt
	curl -sf "$(final mpk '["output_resources"][0]["url"]')" | cmp - filmeto-out/mpk/out.txt
	[ "$(uploads_left mpk)" -eq 0 ]
	stop_fakes
	no_leaks
}

@test "a cancel in the middle of a multipart upload aborts it: S3 lists no upload left" {
	# Each part is held a second: the cancel comes while they are in flight.
	mp_fake --put-delay 1
	export_small_multipart
	big mpc 20 >tasks
	filmeto-run --upload s3://films/mpc/ tasks >events &
	pid=$!
	wait_for -t 30 grep -q CreateMultipartUpload "$FAKE_LOG"
	kill -INT "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 130 ]
	[ "$(final mpc '["status"]')" = cancelled ]
	holds "$FAKE_LOG" '[l["status"] for l in lines if l["op"] == "AbortMultipartUpload"] == [204]' \
		'not [l for l in lines if l["op"] == "CompleteMultipartUpload"]'
	# The parts in flight, answered when their second is up: refused, the
	# upload being gone, or unheard, the client gone.
	wait_for -t 10 grep -q UploadPart "$FAKE_LOG"
	holds "$FAKE_LOG" 'all(l["status"] == 404 or l.get("gone") for l in lines if l["op"] == "UploadPart")'
	[ "$(uploads_left mpc)" -eq 0 ]
	run -22 s3curl "$FAKE_URL/films/mpc/mpc/out.txt" -o /dev/null
	stop_fakes
}

@test "a part S3 keeps failing is retried, then the upload is aborted: none left, the local copy stays" {
	mp_fake --fail-part 2
	export_small_multipart
	big mpf 20 >tasks
	run -1 sh -c 'filmeto-run --upload s3://films/mpf/ tasks >events'
	[ "$(final mpf '["error"]["code"]')" = SERVICE_ERROR ]
	[ "$(final mpf '["error"]["details"]["s3_code"]')" = InternalError ]
	[[ "$(final mpf '["error"]["message"]')" == *"; the local copy stays at '$PWD/filmeto-out/mpf/out.txt'" ]]
	[ -s filmeto-out/mpf/out.txt ]
	# The first try and FM_HTTP_RETRIES (4) more, then the abort.
	holds "$FAKE_LOG" 'len([l for l in lines if l["op"] == "UploadPart" and l["part"] == 2]) == 5' \
		'[l["status"] for l in lines if l["op"] == "AbortMultipartUpload"] == [204]' \
		'not [l for l in lines if l["op"] == "CompleteMultipartUpload"]'
	[ "$(uploads_left mpf)" -eq 0 ]
	run -22 s3curl "$FAKE_URL/films/mpf/mpf/out.txt" -o /dev/null
	stop_fakes
}

# peak_rss OUT CMD...: runs CMD in the background, its stdout into OUT,
# and prints its peak resident memory (VmHWM, kB), read until it exits.
peak_rss() {
	local out=$1 pid hwm=0 h
	shift
	"$@" >"$out" &
	pid=$!
	while [ -e "/proc/$pid/status" ]; do
		h=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null) || true
		[ -z "$h" ] || hwm=$h
	done
	wait "$pid"
	echo "$hwm"
}

@test "a 200 MiB upload costs memory for the parts in flight, not for the file" {
	export FILMETO_PLUGIN_PATH="$ROOT/tests/plugins"
	big mem >tasks
	filmeto-run -d first tasks >events
	# Both answered from the output cache: no plugin's memory counts.
	bare=$(peak_rss events filmeto-run -d bare tasks)
	up=$(peak_rss events filmeto-run -d up --upload s3://films/mem/ tasks)
	[ "$(final mem '["output_resources"][0]["metadata"]["s3_uri"]')" = s3://films/mem/mem/out.txt ]
	# Four parts of 8 MiB in flight would be 32 MiB; streamed, far less.
	[ $((up - bare)) -lt $((32 * 1024)) ]
}
