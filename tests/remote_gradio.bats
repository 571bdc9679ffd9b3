#!/usr/bin/env bats
# The gradio plugin against tests/fakes/fake_gradio.py, a fake Gradio app
# that speaks Gradio's real HTTP API (upload, call, the SSE result stream,
# file=, /config, /cancel) over loopback and returns real media.

load test_helper

setup_file() {
	# The video the fake app "generates": a real H.264 clip.
	ffmpeg -v error -f lavfi -i testsrc=size=96x64:rate=10 -t 1 -pix_fmt yuv420p \
		-c:v libx264 "$BATS_FILE_TMPDIR/clip.mp4"
}

setup() {
	common_setup
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
	unset GRADIO_URL HF_TOKEN
	REMOTE=gradio
	FAKE_ARGS=(--video "$BATS_FILE_TMPDIR/clip.mp4")
	ENDPOINT=task
}

teardown() {
	stop_fakes
}

# In the fake's log: the calls, as JSON lines.
calls() {
	jget "$FAKE_LOG" '[l for l in lines if "call" in l]'
}

@test "text2video: the clip the app made, progress from its generating events" {
	fake
	gen text2video -p api_name=/video -p prompt='a lighthouse at dusk'
	[ "$st" -eq 0 ]
	holds events \
		"by('completed')[0]['output_files'] == ['$PWD/out/t/output.mp4']" \
		"by('completed')[0]['output_resources'][0]['mime_type'] == 'video/mp4'" \
		"len([p for p in by('progress') if p.get('stage') == 'generate']) == 3" \
		"[p['percent'] for p in by('progress')] == sorted(p['percent'] for p in by('progress'))" \
		"by('progress')[-1]['percent'] == 100" \
		"by('completed')[0]['metadata']['gradio']['api_name'] == 'video'" \
		"len(by('completed')[0]['metadata']['gradio']['event_id']) == 32"
	[ "$(ffprobe -v error -select_streams v -show_entries stream=codec_name,width,height -of csv=p=0 out/t/output.mp4)" = "h264,96,64" ]
	# The data array the app got, and the stream read for that event.
	[ "$(jget "$FAKE_LOG" '[l["data"] for l in lines if "call" in l]')" = '[["a lighthouse at dusk"]]' ]
	holds "$FAKE_LOG" \
		"any(l.get('path', '').startswith('/gradio_api/call/video/') and l['method'] == 'GET' for l in lines)" \
		"any(l.get('path', '').startswith('/gradio_api/file=/tmp/gradio/') for l in lines)"
}

@test "image2image: the input file is uploaded and passed as a FileData" {
	fake
	python3 -c "import sys; sys.path.insert(0, '$FAKES'); import fakelib; open('in.png', 'wb').write(fakelib.png(32, 16, (1, 2, 3)))"
	gen image2image -p api_name=echo -p prompt=sepia -r in.png
	[ "$st" -eq 0 ]
	size=$(stat -c %s in.png)
	holds "$FAKE_LOG" \
		"[l['upload'] for l in lines if 'upload' in l] == [[['input-0.png', 'image/png', $size]]] or [l['upload'] for l in lines if 'upload' in l] == [[['in.png', 'image/png', $size]]]" \
		"[l for l in lines if 'call' in l][0]['data'][0]['meta'] == {'_type': 'gradio.FileData'}" \
		"[l for l in lines if 'call' in l][0]['data'][0]['path'].startswith('/tmp/gradio/')" \
		"[l for l in lines if 'call' in l][0]['data'][1] == 'sepia'" \
		"lines.index([l for l in lines if 'upload' in l][0]) < lines.index([l for l in lines if 'call' in l][0])"
	# The app echoed the file back: the same bytes, saved as a PNG.
	cmp in.png out/t/output.png
}

@test "text2image and text2speak: a FileData without url is fetched from file=, types kept" {
	fake
	gen text2image -p api_name=image -p prompt=x
	[ "$st" -eq 0 ]
	[ "$(ffprobe -v error -show_entries stream=codec_name,width,height -of csv=p=0 out/t/output.png)" = "png,64,48" ]
	holds "$FAKE_LOG" "any(l.get('path', '').startswith('/gradio_api/file=/tmp/gradio/') for l in lines)"

	gen text2speak -p api_name=tts -p text='hello there'
	[ "$st" -eq 0 ]
	[ "$(ffprobe -v error -show_entries stream=codec_name,sample_rate -of csv=p=0 out/t/output.wav)" = "pcm_s16le,24000" ]
	holds events "by('completed')[0]['output_resources'][0]['type'] == 'audio'"
	[ "$(jget "$FAKE_LOG" '[l["data"] for l in lines if "call" in l][-1]')" = '["hello there"]' ]
}

@test "the data template keeps each value's type; an unknown name fails before any call" {
	fake
	gen text2image -p api_name=image -p prompt=cat -p seed=7 -p width=512 \
		-p 'vars={"hd": true, "sampler": "euler"}' \
		-p 'data=["{{prompt}}", "{{seed}}", "{{width}}x{{width}}", "{{hd}}", {"s": "{{sampler}}"}, null]'
	[ "$st" -eq 0 ]
	[ "$(jget "$FAKE_LOG" '[l["data"] for l in lines if "call" in l][0]')" = '["cat", 7, "512x512", true, {"s": "euler"}, null]' ]

	: >"$FAKE_LOG"
	gen text2image -p api_name=image -p prompt=cat -p 'data=["{{promt}}"]'
	failed_with VALIDATION_ERROR
	holds events \
		"\"unknown placeholder '{{promt}}' at 0\" in by('failed')[0]['error']['message']" \
		"by('failed')[0]['error']['details']['placeholder'] == 'promt'"
	[ "$(calls)" = "[]" ]
}

@test "api_name: missing, malformed, or unknown to the app" {
	fake
	gen text2image -p prompt=x
	failed_with VALIDATION_ERROR
	holds events "'no api_name' in by('failed')[0]['error']['message']"
	gen text2image -p api_name=../etc -p prompt=x
	failed_with VALIDATION_ERROR
	gen text2image -p api_name=nosuch -p prompt=x
	failed_with VALIDATION_ERROR
	holds events \
		"by('failed')[0]['error']['details']['status'] == 404" \
		"by('failed')[0]['error']['details']['body']['detail'] == \"api_name 'nosuch' not found\""
}

@test "an error event: the app's message, or a hint when it sent none" {
	fake
	gen text2video -p api_name=video -p prompt='fail: CUDA out of memory'
	failed_with SERVICE_ERROR
	holds events \
		"by('failed')[0]['error']['message'] == \"gradio app '/video' failed: fail: CUDA out of memory\"" \
		"by('failed')[0]['error']['details']['message'] == 'fail: CUDA out of memory'"
	gen text2video -p api_name=video -p prompt=failnull
	failed_with SERVICE_ERROR
	holds events \
		"'show_error=True' in by('failed')[0]['error']['message']" \
		"by('failed')[0]['error']['details']['message'] is None"
}

@test "429 with Retry-After, then success" {
	echo '[{"method": "POST", "path": "^/gradio_api/call/", "status": 429, "headers": {"Retry-After": "1"}, "body": {"detail": "Too many requests"}}]' >faults.json
	fake --faults faults.json
	start=$(date +%s.%N)
	gen text2image -p api_name=image -p prompt=x
	[ "$st" -eq 0 ]
	python3 -c "import sys; sys.exit(not ($(date +%s.%N) - $start >= 1))"
	[ "$(jget "$FAKE_LOG" 'len([l for l in lines if l.get("method") == "POST" and l["path"] == "/gradio_api/call/image"])')" = 2 ]
	holds events "any('status 429; retry 1 in 1.0 s' in l.get('message', '') for l in lines)"
}

@test "a 503 on the result stream, then success; a 500 that stays is a SERVICE_ERROR" {
	config 'backoff: 0.1'
	echo '[{"method": "GET", "path": "^/gradio_api/call/image/", "status": 503, "body": {"detail": "busy"}, "times": 2},
	       {"method": "POST", "path": "^/gradio_api/call/tts", "status": 500, "raw": "Internal Server Error", "type": "text/plain", "times": -1}]' >faults.json
	fake --faults faults.json
	gen text2image -p api_name=image -p prompt=x
	[ "$st" -eq 0 ]
	[ "$(jget "$FAKE_LOG" 'len([l for l in lines if l.get("path", "").startswith("/gradio_api/call/image/")])')" = 3 ]
	[ -s out/t/output.png ]

	gen text2speak -p api_name=tts -p text=x
	failed_with SERVICE_ERROR
	holds events \
		"by('failed')[0]['error']['details']['status'] == 500" \
		"by('failed')[0]['error']['details']['body'] == 'Internal Server Error'"
}

@test "a stream that stays silent past the timeout setting is a TIMEOUT_ERROR" {
	config 'timeout: 1'
	fake
	start=$(date +%s)
	gen text2video -p api_name=video -p prompt=hang
	failed_with TIMEOUT_ERROR
	[ $(($(date +%s) - start)) -lt 6 ]
}

@test "cancel mid-generation: the stream closes, the app is asked to cancel, nothing is left" {
	fake
	mkdir -p "$BATS_TEST_TMPDIR/plugins/gradio"
	cp "$ROOT/plugins/gradio/plugin.yaml" "$ROOT/plugins/gradio/gradio" "$BATS_TEST_TMPDIR/plugins/gradio/"
	export FILMETO_PLUGIN_PATH="$BATS_TEST_TMPDIR/plugins"
	filmeto-submit -t text2video -P gradio -i slow -p endpoint="$FAKE_URL" -p api_name=video -p prompt=slow >task.ndjson
	mkfifo in
	filmeto-run -d out <in >events &
	pid=$!
	exec {feed}>in
	cat task.ndjson >&"$feed"
	for _ in $(seq 100); do grep -q '"stage":"generate"' events && break; sleep 0.05; done
	grep -q '"stage":"generate"' events
	start=$(date +%s)
	echo '{"type":"cancel","task_id":"slow"}' >&"$feed"
	exec {feed}>&-
	st=0
	wait "$pid" || st=$?
	[ "$st" -eq 1 ]
	[ $(($(date +%s) - start)) -lt 4 ]
	holds events \
		"by('cancelled')[0]['error']['code'] == 'TASK_CANCELLED'" \
		"not by('completed') and not by('failed')"
	# The app was asked to stop that very event, by its function's index.
	event=$(jget "$FAKE_LOG" '[l["path"].rsplit("/", 1)[1] for l in lines if l.get("method") == "GET" and l.get("path", "").startswith("/gradio_api/call/video/")][0]')
	holds "$FAKE_LOG" \
		"[l['cancel']['event_id'] for l in lines if 'cancel' in l] == ['$event']" \
		"[l['cancel']['fn_index'] for l in lines if 'cancel' in l] == [10]" \
		"[l['cancel']['session_hash'] for l in lines if 'cancel' in l] == [l['session_hash'] for l in lines if 'call' in l]"
	no_plugins_left 3
	[ -z "$(find out -type f)" ]
}

@test "malformed replies: truncated JSON, wrong content types, a cut stream, no file, a 404 file" {
	echo '[{"method": "POST", "path": "^/gradio_api/call/image", "status": 200, "raw": "<html>queue full</html>", "type": "text/html"},
	       {"method": "GET", "path": "^/gradio_api/call/tts/", "status": 200, "raw": "{\"data\": []}", "type": "application/json"}]' >faults.json
	fake --faults faults.json
	gen text2video -p api_name=video -p prompt=badjson
	failed_with SERVICE_ERROR
	holds events "'not a JSON array of outputs' in by('failed')[0]['error']['message']"

	gen text2image -p api_name=image -p prompt=x
	failed_with SERVICE_ERROR
	holds events \
		"'text/html that is not JSON' in by('failed')[0]['error']['message']" \
		"by('failed')[0]['error']['details']['content_type'] == 'text/html'"

	gen text2speak -p api_name=tts -p text=x
	failed_with SERVICE_ERROR
	holds events "'answered with application/json, not an event stream' in by('failed')[0]['error']['message']"

	gen text2video -p api_name=video -p prompt=cut
	failed_with SERVICE_ERROR
	holds events "by('failed')[0]['error']['message'] == \"the event stream of '/video' ended without a result\""

	gen text2image -p api_name=text -p prompt=x
	failed_with SERVICE_ERROR
	holds events "'hold no file' in by('failed')[0]['error']['message']"

	gen text2image -p api_name=image -p prompt=missing
	failed_with RESOURCE_PROCESSING_ERROR
	holds events "'/gradio_api/file=/tmp/gradio/gone/lost.png' in by('failed')[0]['error']['message'] and '404' in by('failed')[0]['error']['message']"
	[ -z "$(find out -name '*.part*')" ]
}

@test "endpoint: the parameter, then GRADIO_URL, then config.yaml, then 127.0.0.1:7860" {
	fake
	a=$FAKE_URL a_log=$FAKE_LOG
	# A second app, with a log of its own.
	b_log=$BATS_TEST_TMPDIR/b.log
	fake --log "$b_log"
	b=$FAKE_URL
	[ "$a" != "$b" ]
	n() { jget "$1" 'len([l for l in lines if "call" in l])'; }

	config "endpoint: $a" 'api_name: image'
	filmeto-submit -t text2image -P gradio -i t -p prompt=x | filmeto-run --no-cache -d out >events
	[ "$(n "$a_log")" = 1 ]
	[ "$(n "$b_log")" = 0 ]

	GRADIO_URL=$b filmeto-submit -t text2image -P gradio -i t -p prompt=x | GRADIO_URL=$b filmeto-run --no-cache -d out >events
	[ "$(n "$a_log")" = 1 ]
	[ "$(n "$b_log")" = 1 ]

	filmeto-submit -t text2image -P gradio -i t -p prompt=x -p endpoint="$a" | GRADIO_URL=$b filmeto-run --no-cache -d out >events
	[ "$(n "$a_log")" = 2 ]
	[ "$(n "$b_log")" = 1 ]

	config 'api_name: image'
	st=0
	filmeto-submit -t text2image -P gradio -i t -p prompt=x | filmeto-run --no-cache -d out >events || st=$?
	failed_with SERVICE_ERROR
	holds events "\"'http://127.0.0.1:7860/gradio_api/call/image'\" in by('failed')[0]['error']['message']"
}

@test "api_name, data and vars from config.yaml, per tool before the plugin's" {
	fake
	config "endpoint: $FAKE_URL" 'api_name: video' 'data: ["{{prompt}}", 1, "{{quality}}"]' \
		'vars: {quality: low, sampler: euler}' \
		'tools:' '  text2image: {api_name: image, data: ["{{prompt}}", "{{seed}}", "{{quality}}", "{{sampler}}"], vars: {quality: high}}'
	filmeto-submit -t text2image -P gradio -i t -p prompt=x -p seed=3 | filmeto-run --no-cache -d out >events
	filmeto-submit -t text2video -P gradio -i v -p prompt=y | filmeto-run --no-cache -d out >>events
	[ "$(jget "$FAKE_LOG" '[[l["call"], l["data"]] for l in lines if "call" in l]')" = '[["image", ["x", 3, "high", "euler"]], ["video", ["y", 1, "low"]]]' ]
	[ -s out/t/output.png ]
	[ -s out/v/output.mp4 ]
}

@test "HF_TOKEN goes to the app as a Bearer key and nowhere else" {
	fake
	export HF_TOKEN=hf_secret_token_1234
	gen text2video -p api_name=video -p prompt=x
	[ "$st" -eq 0 ]
	holds "$FAKE_LOG" \
		"all(l['headers'].get('Authorization') == 'Bearer hf_secret_token_1234' for l in lines if 'headers' in l)"
	gen text2video -p api_name=video -p 'prompt=fail hf_secret_token_1234'
	failed_with SERVICE_ERROR
	run grep -r hf_secret_token_1234 events out
	[ "$status" -eq 1 ]
}

@test "an app that echoes HF_TOKEN escaped or in pieces: its error, its outputs' names and a text file it made are redacted" {
	echo '[
	  {"method": "GET", "path": "^/gradio_api/call/video/", "type": "text/event-stream", "chunks": ["event: error\ndata: \"no access for {key[:6]}", "{key[6:]|json}, or %{key|url}\"\n\n"]},
	  {"method": "GET", "path": "^/gradio_api/call/text/", "type": "text/event-stream", "chunks": ["event: complete\ndata: [{\"path\": \"/tmp/gradio/x/t.txt\", \"url\": \"{base}/gradio_api/file=/tmp/gradio/x/t.txt\", \"orig_name\": \"{key|jsonmixed}.txt\", \"meta\": {\"_type\": \"gradio.FileData\"}}]\n\n"]},
	  {"method": "GET", "path": "^/gradio_api/file=/tmp/gradio/x/t.txt$", "type": "text/plain", "chunks": ["token: {key[:9]}", "{key[9:]}; as a URL: {key|url}"]}
	]' >faults.json
	fake --faults faults.json
	export HF_TOKEN=hf_secret_token_1234
	gen text2video -p api_name=video -p prompt=x
	failed_with SERVICE_ERROR
	holds events "by('failed')[0]['error']['message'] == \"gradio app '/video' failed: no access for [redacted], or %[redacted]\""
	mv events events-error
	gen text2image -p api_name=text -p prompt=x
	[ "$st" -eq 0 ]
	[ "$(cat out/t/output.txt)" = 'token: [redacted]; as a URL: [redacted]' ]
	holds events "by('completed')[0]['metadata']['gradio']['outputs'][0]['orig_name'] == '[redacted].txt'"
	# The file under the endpoint got the token: that is how the app echoed it.
	holds "$FAKE_LOG" "[l['headers'].get('Authorization') for l in lines if l.get('path', '').startswith('/gradio_api/file=')] == ['Bearer hf_secret_token_1234']"
	python3 "$FAKES/fakelib.py" leaks hf_secret_token_1234 events events-error out
}

