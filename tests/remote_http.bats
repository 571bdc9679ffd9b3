#!/usr/bin/env bats
# The http plugin against tests/fakes/fake_http.py, a generic JSON
# generation service answering in the three shapes such services use:
# base64 in the JSON, a file URL in the JSON, the file as the body.
# Everything the plugin does comes from config.yaml's plugins.http.

load test_helper

setup() {
	common_setup
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
	unset HTTP_API_KEY
	REMOTE=http
}

teardown() {
	stop_fakes
}

# The JSON bodies the fake received.
bodies() {
	jget "$FAKE_LOG" '[l["body"] for l in lines if "body" in l]'
}

tts_config() {
	config "endpoint: $FAKE_URL/tts" \
		'request: {text: "{{text}}", speaker: "{{voice}}", speed: 1.0}' \
		'output: {from: base64, path: data.0.audio, type: audio/wav}' "$@"
}

@test "base64 in the reply (a TTS server): the WAV it held, the body from the template" {
	start_fake http
	tts_config
	gen text2speak -p text='hello there' -p voice=alto
	[ "$st" -eq 0 ]
	[ "$(bodies)" = '[{"text": "hello there", "speaker": "alto", "speed": 1.0}]' ]
	holds events \
		"by('completed')[0]['output_files'] == ['$PWD/out/t/output.wav']" \
		"by('completed')[0]['output_resources'][0]['type'] == 'audio'" \
		"[p.get('stage') for p in by('progress')] == ['request', 'done']" \
		"by('progress')[-1]['percent'] == 100"
	[ "$(ffprobe -v error -show_entries stream=codec_name,sample_rate -of csv=p=0 out/t/output.wav)" = "pcm_s16le,24000" ]
	[ "$(duration out/t/output.wav)" = 0.500000 ]
}

@test "a URL in the reply: relative or absolute, one file or a list" {
	start_fake http
	config "endpoint: $FAKE_URL/music" \
		'request: {prompt: "{{prompt}}", duration: "{{duration}}"}' \
		'output: {from: url, path: audio_url}' \
		'tools:' \
		"  text2image: {endpoint: $FAKE_URL/image, request: {prompt: \"{{prompt}}\", n: 2}, output: {from: url, path: images}}"
	gen text2music -p prompt='calm piano' -p duration=1.5
	[ "$st" -eq 0 ]
	[ "$(bodies)" = '[{"prompt": "calm piano", "duration": 1.5}]' ]
	[ "$(duration out/t/output.wav)" = 1.500000 ]
	holds "$FAKE_LOG" "any(l.get('method') == 'GET' and l['path'].startswith('/files/') for l in lines)"

	gen text2image -p prompt=boats
	[ "$st" -eq 0 ]
	[ "$(ffprobe -v error -show_entries stream=width,height -of csv=p=0 out/t/output-0.png)" = "40,30" ]
	[ "$(ffprobe -v error -show_entries stream=width,height -of csv=p=0 out/t/output-1.png)" = "41,30" ]
	holds events "len(by('completed')[0]['output_files']) == 2"
}

@test "the body is the file; a JSON body where a WAV was due is an error" {
	start_fake http
	config "endpoint: $FAKE_URL/raw" 'output: {from: body, type: audio/wav}'
	gen text2speak -p text=hi
	[ "$st" -eq 0 ]
	[ "$(duration out/t/output.wav)" = 0.250000 ]
	# Without a request template the task's parameters are the body.
	[ "$(jget "$FAKE_LOG" '[l["body"] for l in lines if "body" in l][0]')" = '{"text": "hi"}' ]

	gen text2speak -p text=wrongtype
	failed_with SERVICE_ERROR
	holds events \
		"'answered with application/json, not audio/wav (output.type)' in by('failed')[0]['error']['message']" \
		"by('failed')[0]['error']['details']['content_type'] == 'application/json'" \
		"'the model is loading' in by('failed')[0]['error']['details']['body']"
	[ -z "$(find out -type f)" ]
}

@test "an input file as base64 (RVC style), a data: URL back" {
	start_fake http
	python3 -c "import sys; sys.path.insert(0, '$FAKES'); import fakelib; open('voice.wav', 'wb').write(fakelib.wav(0.3, 16000, 330.0))"
	config "endpoint: $FAKE_URL/convert" \
		'request: {audio: "{{input0_base64}}", name: "{{input0_name}}", mime: "{{input0_mime}}", pitch: "{{vars.pitch}}"}' \
		'vars: {pitch: 0}' \
		'output: {from: base64, path: audio}'
	gen text2speak -p text=unused -r voice.wav -p 'vars={"pitch": 3}'
	[ "$st" -eq 0 ]
	cmp voice.wav out/t/output.wav
	holds "$FAKE_LOG" \
		"[l['body']['pitch'] for l in lines if 'body' in l] == [3]" \
		"[l['body']['mime'] for l in lines if 'body' in l] == ['audio/wav']" \
		"[l['body']['name'].endswith('.wav') for l in lines if 'body' in l] == [True]"
}

@test "text at a path (text2text)" {
	start_fake http
	config "endpoint: $FAKE_URL/text" 'request: {prompt: "{{prompt}}", max_tokens: 64}' \
		'output: {from: text, path: choices.0.text}'
	gen text2text -p prompt='a lighthouse'
	[ "$st" -eq 0 ]
	[ "$(cat out/t/output.txt)" = "Once upon a time: a lighthouse" ]
	holds events "by('completed')[0]['output_resources'][0]['mime_type'] == 'text/plain'"
}

@test "bad config: no endpoint, an unknown output.from, no output.path, a bad method, an unknown placeholder" {
	start_fake http
	gen text2speak -p text=hi
	failed_with VALIDATION_ERROR
	holds events "'no endpoint: set plugins.http.endpoint (or plugins.http.tools.text2speak.endpoint)' in by('failed')[0]['error']['message']"

	config "endpoint: $FAKE_URL/tts" 'output: {from: json}'
	gen text2speak -p text=hi
	failed_with VALIDATION_ERROR
	holds events "by('failed')[0]['error']['message'] == \"setting 'output.from': 'json' is not body, base64, url or text\""

	config "endpoint: $FAKE_URL/tts" 'output: {from: base64}'
	gen text2speak -p text=hi
	failed_with VALIDATION_ERROR
	holds events "\"setting 'output.path' is required when output.from is base64\" in by('failed')[0]['error']['message']"

	config "endpoint: $FAKE_URL/tts" 'method: DELETE'
	gen text2speak -p text=hi
	failed_with VALIDATION_ERROR
	holds events "\"setting 'method': 'DELETE'\" in by('failed')[0]['error']['message']"

	tts_config
	gen text2speak -p text=hi
	failed_with VALIDATION_ERROR
	holds events "\"unknown placeholder '{{voice}}' at speaker\" in by('failed')[0]['error']['message']"
	[ "$(bodies)" = "[]" ]
}

@test "the reply lacks output.path, or holds bad base64: SERVICE_ERROR naming it" {
	start_fake http
	tts_config
	gen text2speak -p text=nopath -p voice=a
	failed_with SERVICE_ERROR
	holds events \
		"by('failed')[0]['error']['message'] == \"the reply has no base64 data at 'data.0.audio' (output.path)\"" \
		"by('failed')[0]['error']['details']['path'] == 'data.0.audio'" \
		"'\"data\":[]' in by('failed')[0]['error']['details']['body']"
	gen text2speak -p text=badbase64 -p voice=a
	failed_with SERVICE_ERROR
	holds events "'not valid base64' in by('failed')[0]['error']['message']"
}

@test "settings: the task's parameters over the tool's section over the plugin's" {
	start_fake http
	config "endpoint: $FAKE_URL/nosuch" \
		'output: {from: url, path: audio_url, type: audio/wav}' \
		'request: {prompt: "{{prompt}}"}' \
		'tools:' \
		"  text2music: {endpoint: $FAKE_URL/music, request: {prompt: \"{{prompt}}\", duration: 0.5}}"
	gen text2music -p prompt=a
	[ "$st" -eq 0 ]
	[ "$(duration out/t/output.wav)" = 0.500000 ]
	# The tool's output setting merges over the plugin's: path stays, from changes.
	gen text2music -p prompt=b -p endpoint="$FAKE_URL/tts" -p 'request={"text": "{{prompt}}"}' \
		-p 'output={"from": "base64", "path": "data.0.audio"}'
	[ "$st" -eq 0 ]
	[ "$(jget "$FAKE_LOG" '[[l["path"], l["body"]] for l in lines if "body" in l]')" = '[["/music", {"prompt": "a", "duration": 0.5}], ["/tts", {"text": "b"}]]' ]
	gen text2speak -p text=c
	failed_with VALIDATION_ERROR
	holds events "by('failed')[0]['error']['details']['status'] == 404"
}

@test "the key: HTTP_API_KEY or key_file as Bearer, or in a header; never in what filmeto writes" {
	start_fake http
	tts_config
	HTTP_API_KEY=sk-test-abcdef123456 gen text2speak -p text=hi -p voice=v
	[ "$st" -eq 0 ]
	holds "$FAKE_LOG" "[l['headers'].get('Authorization') for l in lines if 'headers' in l] == ['Bearer sk-test-abcdef123456']"

	printf 'sk-file-key-7890\n' >key && chmod 600 key
	tts_config "key_file: $PWD/key" 'headers: {X-Api-Key: "{{key}}", X-Client: filmeto}'
	: >"$FAKE_LOG"
	gen text2speak -p text=hi -p voice=v
	[ "$st" -eq 0 ]
	holds "$FAKE_LOG" \
		"[l['headers'].get('X-Api-Key') for l in lines if 'headers' in l] == ['sk-file-key-7890']" \
		"[l['headers'].get('X-Client') for l in lines if 'headers' in l] == ['filmeto']" \
		"[l['headers'].get('Authorization') for l in lines if 'headers' in l] == [None]"

	# The service's own files get its headers too.
	config "endpoint: $FAKE_URL/music" "key_file: $PWD/key" 'headers: {X-Api-Key: "{{key}}"}' \
		'output: {from: url, path: audio_url}'
	: >"$FAKE_LOG"
	gen text2music -p prompt=x
	[ "$st" -eq 0 ]
	holds "$FAKE_LOG" "[l['headers'].get('X-Api-Key') for l in lines if 'headers' in l] == ['sk-file-key-7890', 'sk-file-key-7890']" \
		"[l['path'].split('/')[1] for l in lines if 'headers' in l] == ['music', 'files']"

	# A service that repeats the key in its error: redacted either way.
	tts_config "key_file: $PWD/key" 'headers: {X-Api-Key: "{{key}}", X-Client: filmeto}'
	gen text2speak -p text=echo-key -p voice=v
	failed_with VALIDATION_ERROR
	tts_config 'headers: {Authorization: "Token {{key}}"}'
	HTTP_API_KEY=sk-test-abcdef123456 gen text2speak -p text=echo-key -p voice=v
	failed_with VALIDATION_ERROR
	holds events "'Token [redacted]' in by('failed')[0]['error']['details']['body']['detail']"
	run grep -r -e sk-test-abcdef123456 -e sk-file-key-7890 events out
	[ "$status" -eq 1 ]

	chmod 644 key
	tts_config "key_file: $PWD/key"
	gen text2speak -p text=hi -p voice=v
	failed_with VALIDATION_ERROR
	holds events "'may be read by others' in by('failed')[0]['error']['message']"
}

@test "a reply that echoes the key escaped or in pieces is saved redacted; the key's headers stay under the endpoint's directory" {
	printf 'sk-file-key-7890\n' >key && chmod 600 key
	echo '[
	  {"path": "^/text$", "status": 200, "key_header": "X-Api-Key", "raw": "{\"choices\": [{\"text\": \"k={key|json} u={key|url} h={key[:2]}&#45;{key[3:]}\"}]}"},
	  {"path": "^/raw$", "type": "text/plain", "key_header": "X-Api-Key", "chunks": ["key: {key[:6]}", "{key[6:]} end"]},
	  {"path": "^/v2/tts$", "status": 307, "headers": {"Location": "{base}/tts"}},
	  {"path": "^/v2/music$", "status": 307, "headers": {"Location": "{other}/v2/tts2"}}
	]' >faults.json
	start_fake http --faults faults.json
	config "endpoint: $FAKE_URL/text" "key_file: $PWD/key" 'headers: {X-Api-Key: "{{key}}"}' \
		'output: {from: text, path: choices.0.text}'
	gen text2text -p prompt=x
	[ "$st" -eq 0 ]
	[ "$(cat out/t/output.txt)" = 'k=[redacted] u=[redacted] h=[redacted]' ]
	config "endpoint: $FAKE_URL/raw" "key_file: $PWD/key" 'headers: {X-Api-Key: "{{key}}"}' \
		'output: {type: text/plain}'
	gen text2text -p prompt=x
	[ "$st" -eq 0 ]
	[ "$(cat out/t/output.txt)" = 'key: [redacted] end' ]
	python3 "$FAKES/fakelib.py" leaks sk-file-key-7890 events out

	# /v2/tts sends it on to /tts, outside /v2/: the header does not follow.
	config "endpoint: $FAKE_URL/v2/tts" "key_file: $PWD/key" 'headers: {X-Api-Key: "{{key}}"}' \
		'request: {text: "{{text}}"}' 'output: {from: base64, path: data.0.audio, type: audio/wav}'
	: >"$FAKE_LOG"
	gen text2speak -p text=hi
	[ "$st" -eq 0 ]
	holds "$FAKE_LOG" "[(l['path'], l['headers'].get('X-Api-Key')) for l in lines if 'headers' in l] == [('/v2/tts', 'sk-file-key-7890'), ('/tts', None)]"
	# Nor to another host name for the same server.
	config "endpoint: $FAKE_URL/v2/music" "key_file: $PWD/key" 'headers: {X-Api-Key: "{{key}}"}' \
		'output: {from: url, path: audio_url}'
	: >"$FAKE_LOG"
	gen text2music -p prompt=x
	holds "$FAKE_LOG" "[(l['path'], l['headers'].get('X-Api-Key')) for l in lines if 'headers' in l] == [('/v2/music', 'sk-file-key-7890'), ('/v2/tts2', None)]"
}

@test "429 with Retry-After, then success; 503 then success; a 500 that stays" {
	echo '[{"path": "^/tts", "status": 429, "headers": {"Retry-After": "1"}, "body": {"detail": "slow down"}},
	       {"path": "^/music", "status": 503, "body": {"detail": "loading"}, "times": 2},
	       {"path": "^/raw", "status": 500, "raw": "boom", "type": "text/plain", "times": -1}]' >faults.json
	start_fake http --faults faults.json
	tts_config 'backoff: 0.1'
	start=$(date +%s.%N)
	gen text2speak -p text=hi -p voice=v
	[ "$st" -eq 0 ]
	python3 -c "import sys; sys.exit(not ($(date +%s.%N) - $start >= 1))"
	holds events "any('status 429; retry 1 in 1.0 s' in l.get('message', '') for l in lines)"
	[ -s out/t/output.wav ]

	config "endpoint: $FAKE_URL/music" 'output: {from: url, path: audio_url}' 'backoff: 0.1'
	gen text2music -p prompt=x
	[ "$st" -eq 0 ]
	[ "$(jget "$FAKE_LOG" 'len([l for l in lines if l.get("path") == "/music" and "method" in l])')" = 3 ]

	config "endpoint: $FAKE_URL/raw" 'backoff: 0.1'
	gen text2speak -p text=x
	failed_with SERVICE_ERROR
	holds events "by('failed')[0]['error']['details'] == {'status': 500, 'url': '$FAKE_URL/raw', 'body': 'boom'}"
}

@test "a service slower than the timeout setting is a TIMEOUT_ERROR" {
	start_fake http
	config "endpoint: $FAKE_URL/raw" 'timeout: 1'
	start=$(date +%s)
	gen text2speak -p text=hang
	failed_with TIMEOUT_ERROR
	[ $(($(date +%s) - start)) -lt 6 ]
}

@test "cancel mid-download: no plugin process, no partial file" {
	start_fake http
	mkdir -p "$BATS_TEST_TMPDIR/plugins/http"
	cp "$ROOT/plugins/http/plugin.yaml" "$ROOT/plugins/http/http" "$BATS_TEST_TMPDIR/plugins/http/"
	export FILMETO_PLUGIN_PATH="$BATS_TEST_TMPDIR/plugins"
	config "endpoint: $FAKE_URL/raw"
	filmeto-submit -t text2speak -P http -i slow -p text=slow >task.ndjson
	mkfifo in
	filmeto-run -d out <in >events &
	pid=$!
	exec {feed}>in
	cat task.ndjson >&"$feed"
	for _ in $(seq 100); do [ -n "$(find out -name 'output.wav.part*' 2>/dev/null)" ] && break; sleep 0.05; done
	[ -n "$(find out -name 'output.wav.part*')" ]
	start=$(date +%s)
	echo '{"type":"cancel","task_id":"slow"}' >&"$feed"
	exec {feed}>&-
	st=0
	wait "$pid" || st=$?
	[ "$st" -eq 1 ]
	[ $(($(date +%s) - start)) -lt 4 ]
	holds events "by('cancelled')[0]['error']['code'] == 'TASK_CANCELLED'"
	no_plugins_left 3
	[ -z "$(find out -type f)" ]
}

@test "malformed replies: truncated JSON, an output URL that 404s" {
	echo '[{"path": "^/tts", "status": 200, "raw": "{\"data\": [{\"audio\": \"UklG", "type": "application/json"}]' >faults.json
	start_fake http --faults faults.json
	tts_config
	gen text2speak -p text=hi -p voice=v
	failed_with SERVICE_ERROR
	holds events \
		"'answered 200 with application/json that is not JSON' in by('failed')[0]['error']['message']" \
		"by('failed')[0]['error']['details']['body'] == '{\"data\": [{\"audio\": \"UklG'"

	config "endpoint: $FAKE_URL/music" 'output: {from: url, path: audio_url}'
	gen text2music -p prompt=missing
	failed_with RESOURCE_PROCESSING_ERROR
	holds events "\"cannot fetch '$FAKE_URL/files/gone.wav': 404\" in by('failed')[0]['error']['message']"
	[ -z "$(find out -type f)" ]
}
