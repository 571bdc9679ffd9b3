#!/usr/bin/env bats
# The openai plugin in real pipelines against tests/fakes/fake_openai.py,
# which speaks the OpenAI wire format on loopback: chat (SSE and one
# reply), images (b64_json and url), speech, videos (create, poll, content,
# delete); settings and their precedence; keys and their secrecy; every
# error class, retries, timeouts, cancel and malformed replies.

load test_helper

KEY=sk-test-SECRET-1234

setup_file() {
	ffmpeg -nostdin -v error -y -f lavfi -i testsrc=s=320x240:r=24:d=1 -pix_fmt yuv420p \
		-c:v libx264 "$BATS_FILE_TMPDIR/clip.mp4"
}

setup() {
	common_setup
	# `sub ... | go` sets $status in the test itself
	shopt -s lastpipe
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
	unset OPENAI_API_KEY OPENAI_BASE_URL
	CLIP="$BATS_FILE_TMPDIR/clip.mp4"
	BODIES="$BATS_TEST_TMPDIR/bodies"
	# The fake keeps the request bodies in $BODIES.
	REMOTE=openai
	FAKE_ARGS=(--bodies "$BODIES" --video "$CLIP")
	ENDPOINT=config
	FAKE_API=/v1
}

teardown() {
	stop_fakes
}

# The requests the fake saw, as holds() lines: {"path","method","json"|"multipart"}.
sent() {
	holds "$BODIES" "$@"
}

# --- each tool ----------------------------------------------------------

@test "text2text streams: progress per chunk with the characters so far, the answer in text.txt" {
	fake --chunk-delay 0.03 --words 24
	sub chat text2text -p prompt='the lighthouse keeper' -p temperature=0.5 -p max_tokens=100 | go
	[ "$status" -eq 0 ]
	want=$(python3 -c 'w="echo: the lighthouse keeper".split(); print(" ".join(w[i % len(w)] for i in range(24)))')
	[ "$(cat out/chat/text.txt)" = "$want" ]
	holds events \
		"one('completed','chat')['metadata']['text'] == '''$want'''" \
		"one('completed','chat')['metadata']['finish_reason'] == 'stop'" \
		"one('completed','chat')['output_resources'][0]['mime_type'] == 'text/plain'" \
		"len([p for p in ev('progress','chat') if p['stage'] == 'generating' and 'characters' in p['message'] and 0 < p['percent'] < 100]) >= 3" \
		"[p['percent'] for p in ev('progress','chat')] == sorted(p['percent'] for p in ev('progress','chat'))"
	sent 'lines[0]["path"] == "/v1/chat/completions"' \
		'lines[0]["json"]["stream"] is True' \
		'lines[0]["json"]["model"] == "gpt-4o-mini"' \
		'lines[0]["json"]["temperature"] == 0.5 and lines[0]["json"]["max_tokens"] == 100' \
		'lines[0]["json"]["messages"] == [{"role": "user", "content": "the lighthouse keeper"}]'
	grep -q '"Accept": "text/event-stream"' "$FAKE_LOG"
}

@test "text2text: one reply with stream=false; optimize mode rewrites a prompt with a fixed system message" {
	fake
	{
		sub plain text2text -p prompt='hello there' -p stream=false -p system='Be brief.'
		sub opt text2text -p prompt='a lighthouse at dusk' -p mode=optimize
		sub opt2 text2text -p prompt='a ship' -p mode=optimize -p system='Film noir.' -p stream=false
	} | go
	[ "$status" -eq 0 ]
	[ "$(cat out/plain/text.txt)" = 'echo: hello there' ]
	[ "$(cat out/opt/prompt.txt)" = 'echo: a lighthouse at dusk' ]
	[ ! -e out/opt/text.txt ]
	holds events \
		"one('completed','plain')['metadata']['usage']['completion_tokens'] == 3" \
		"one('completed','opt')['output_files'] == ['$BATS_TEST_TMPDIR/out/opt/prompt.txt']"
	# The three run at once: their requests are told apart by the user's words.
	sent 'len(lines) == 3' \
		'[l for l in lines if l["json"]["messages"][-1]["content"] == "hello there"][0]["json"]["messages"][0] == {"role": "system", "content": "Be brief."}' \
		'"stream" not in [l for l in lines if l["json"]["messages"][-1]["content"] == "hello there"][0]["json"]' \
		'"reply with the prompt only" in [l for l in lines if l["json"]["messages"][-1]["content"] == "a lighthouse at dusk"][0]["json"]["messages"][0]["content"]' \
		'[l for l in lines if l["json"]["messages"][-1]["content"] == "a ship"][0]["json"]["messages"][0]["content"] == [l for l in lines if l["json"]["messages"][-1]["content"] == "a lighthouse at dusk"][0]["json"]["messages"][0]["content"] + "\n\nAlso: Film noir."'
}

@test "text2image: b64_json and url answers are both saved as image files" {
	fake
	{
		sub b64 text2image -p prompt='a lighthouse' -p size=1024x1024 -p n=2 -p quality=low
		sub url text2image -p prompt='a lighthouse' -p model=dall-e-3 -p response_format=url -p size=1024x1024
		sub dalle text2image -p prompt='a lighthouse' -p model=dall-e-2 -p size=256x256
	} | go -j 2
	[ "$status" -eq 0 ]
	[ "$(probe out/b64/image-1.png stream=codec_name,width,height)" = png,1024,1024 ]
	[ "$(probe out/b64/image-2.png stream=codec_name,width,height)" = png,1024,1024 ]
	[ "$(probe out/url/image-1.png stream=codec_name,width,height)" = png,1024,1024 ]
	[ "$(probe out/dalle/image-1.png stream=width)" = 256 ]
	[ "$(ls -A out/url)" = image-1.png ]
	holds events \
		"one('completed','b64')['output_files'] == ['$BATS_TEST_TMPDIR/out/b64/image-1.png', '$BATS_TEST_TMPDIR/out/b64/image-2.png']" \
		"[r['mime_type'] for r in one('completed','b64')['output_resources']] == ['image/png'] * 2" \
		"one('completed','url')['metadata']['revised_prompt'] == 'a fake revision'"
	# gpt-image models get no response_format (they refuse it); dall-e gets b64_json
	sent '[l["json"].get("response_format") for l in sorted(lines, key=lambda l: l["json"]["model"])] == ["b64_json", "url", None]' \
		'[l for l in lines if l["json"]["model"] == "gpt-image-1"][0]["json"] == {"model": "gpt-image-1", "prompt": "a lighthouse", "n": 2, "size": "1024x1024", "quality": "low"}'
	grep -q '"GET", "path": "/files/' "$FAKE_LOG"
}

@test "image2image sends the input image as a multipart upload" {
	fake
	python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import fakelib; open("in.png", "wb").write(fakelib.png(32, 32, (1, 2, 3)))' "$FAKES"
	sha=$(sha256sum in.png | cut -d' ' -f1)
	sub edit image2image -p prompt='make it blue' -p size=512x512 -r in.png | go
	[ "$status" -eq 0 ]
	[ "$(probe out/edit/image-1.png stream=codec_name,width,height)" = png,512,512 ]
	sent 'lines[0]["path"] == "/v1/images/edits"' \
		'lines[0]["multipart"]["image"]["sha256"] == "'"$sha"'"' \
		'lines[0]["multipart"]["image"]["type"] == "image/png"' \
		'lines[0]["multipart"]["prompt"] == "make it blue" and lines[0]["multipart"]["model"] == "gpt-image-1"' \
		'lines[0]["multipart"]["size"] == "512x512"'
	# without an image the task says what it needs
	sub noimg image2image -p prompt='make it blue' | go
	[ "$status" -eq 1 ]
	holds events "one('failed','noimg')['error']['code'] == 'VALIDATION_ERROR'" \
		"'needs an input image' in one('failed','noimg')['error']['message']"
}

@test "text2speak: WAV by default, other formats on request, a bad voice is the service's VALIDATION_ERROR" {
	fake
	{
		sub wav text2speak -p text='Every evening the keeper climbed the steps.'
		sub mp3 text2speak -p text='Hello.' -p response_format=mp3 -p voice=nova -p speed=1.5
		sub bad text2speak -p text='Hello.' -p voice=robot
	} | go -j 1 # one at a time: the requests are checked in order
	[ "$status" -eq 1 ]
	[ "$(probe out/wav/speech.wav stream=codec_name,sample_rate,channels)" = pcm_s16le,24000,1 ]
	[ "$(probe out/mp3/speech.mp3 stream=codec_name)" = mp3 ]
	holds events \
		"one('completed','wav')['output_resources'][0]['mime_type'] == 'audio/wav'" \
		"one('completed','mp3')['metadata']['voice'] == 'nova'" \
		"one('failed','bad')['error']['code'] == 'VALIDATION_ERROR'" \
		"one('failed','bad')['error']['details']['status'] == 400" \
		"one('failed','bad')['error']['details']['body']['error']['param'] == 'voice'" \
		"'robot' in one('failed','bad')['error']['message']"
	sent 'lines[0]["json"] == {"model": "gpt-4o-mini-tts", "input": "Every evening the keeper climbed the steps.", "voice": "alloy", "response_format": "wav"}' \
		'lines[1]["json"]["speed"] == 1.5'
	[ ! -e out/bad/speech.wav ]
}

@test "text2video polls status and progress, then downloads the MP4; image2video uploads input_reference" {
	fake --video-steps 4
	{
		sub t2v text2video -p prompt='waves on rocks' -p seconds=8
		sub i2v image2video -p prompt='the light turns' -r "$ROOT/share/filmeto/examples/hello-contact.png"
	} | go
	[ "$status" -eq 0 ]
	cmp out/t2v/video.mp4 "$CLIP"
	[ "$(probe out/i2v/video.mp4 stream=codec_name)" = h264 ]
	holds events \
		"[p['percent'] for p in ev('progress','t2v') if p['stage'] == 'in_progress'] == [25, 50, 75]" \
		"ev('progress','t2v')[-1]['percent'] == 100" \
		"one('completed','t2v')['metadata']['video_id'].startswith('video_')" \
		"one('completed','t2v')['metadata']['seconds'] == '8'" \
		"one('completed','t2v')['output_resources'][0]['mime_type'] == 'video/mp4'"
	# The two run at once: their requests are found by their kind, not their order.
	sent '[l["json"] for l in lines if "json" in l] == [{"model": "sora-2", "prompt": "waves on rocks", "seconds": "8", "size": "1280x720"}]' \
		'[l for l in lines if "multipart" in l][0]["multipart"]["input_reference"]["type"] == "image/png"' \
		'[l for l in lines if "multipart" in l][0]["multipart"]["prompt"] == "the light turns"'
	[ "$(grep -c '"GET", "path": "/v1/videos/video_[0-9a-f]*"' "$FAKE_LOG")" -eq 8 ]
}

@test "a video the service fails is a SERVICE_ERROR with the service's reason" {
	fake
	sub v text2video -p prompt='fail please' | go
	[ "$status" -eq 1 ]
	holds events "one('failed','v')['error']['code'] == 'SERVICE_ERROR'" \
		"'blocked by our moderation system' in one('failed','v')['error']['message']" \
		"one('failed','v')['error']['details']['error']['code'] == 'moderation_blocked'"
	[ ! -e out/v/video.mp4 ]
}

# --- settings and keys --------------------------------------------------

@test "settings: the endpoint parameter beats OPENAI_BASE_URL, which beats config.yaml; models likewise" {
	start_fake openai --bodies a.json
	A=$FAKE_URL
	start_fake openai --bodies b.json
	B=$FAKE_URL
	start_fake openai --bodies c.json
	config 'model: cfg-model' 'models: {text2text: chat-model}'
	export OPENAI_BASE_URL=$B/v1
	{
		sub p1 text2image -p prompt=one -p endpoint="$A/v1" -p model=param-model
		sub p2 text2image -p prompt=two
	} | go
	[ "$status" -eq 0 ]
	unset OPENAI_BASE_URL
	{
		sub p3 text2image -p prompt=three
		sub p4 text2text -p prompt=four -p stream=false
	} | go -j 1 # one at a time: the requests are checked in order
	[ "$status" -eq 0 ]
	BODIES=a.json sent 'len(lines) == 1' 'lines[0]["json"]["prompt"] == "one"' \
		'lines[0]["json"]["model"] == "param-model"'
	BODIES=b.json sent 'len(lines) == 1' 'lines[0]["json"]["prompt"] == "two"' \
		'lines[0]["json"]["model"] == "cfg-model"'
	BODIES=c.json sent 'len(lines) == 2' 'lines[0]["json"]["prompt"] == "three"' \
		'lines[1]["json"]["model"] == "chat-model"'
}

@test "the key comes from a 0600 key_file; a group-readable one is refused before any request" {
	fake --key "$KEY"
	printf '%s\n' "$KEY" > key
	chmod 600 key
	config "key_file: $BATS_TEST_TMPDIR/key"
	sub ok text2image -p prompt=x | go
	[ "$status" -eq 0 ]
	grep -q "\"Authorization\": \"Bearer $KEY\"" "$FAKE_LOG"
	n=$(wc -l < "$FAKE_LOG")
	chmod 640 key
	sub open text2image -p prompt=y | go
	[ "$status" -eq 1 ]
	holds events "one('failed','open')['error']['code'] == 'VALIDATION_ERROR'" \
		"'may be read by others' in one('failed','open')['error']['message']" \
		"'chmod 600' in one('failed','open')['error']['message']"
	[ "$(wc -l < "$FAKE_LOG")" -eq "$n" ]
	# OPENAI_API_KEY beats the file
	chmod 600 key
	echo sk-other > key
	export OPENAI_API_KEY=$KEY
	sub env text2image -p prompt=z | go
	[ "$status" -eq 0 ]
}

@test "a refused key is a SERVICE_ERROR that names OPENAI_API_KEY and never shows the key" {
	fake --key "$KEY"
	export OPENAI_API_KEY=sk-wrong-key-5678
	sub k text2speak -p text=hello | go
	[ "$status" -eq 1 ]
	holds events "one('failed','k')['error']['code'] == 'SERVICE_ERROR'" \
		"one('failed','k')['error']['details']['status'] == 401" \
		"one('failed','k')['error']['details']['body']['error']['code'] == 'invalid_api_key'" \
		"'OPENAI_API_KEY' in one('failed','k')['error']['message']"
	# the fake echoed the key it refused; filmeto shows it nowhere
	grep -q 'Incorrect API key provided' events
	! grep -rF sk-wrong-key-5678 events errlog out "$XDG_CACHE_HOME"
	unset OPENAI_API_KEY
	sub none text2speak -p text=hello | go
	holds events "'OPENAI_API_KEY' in one('failed','none')['error']['message']"
}

@test "a known key used by every tool, and echoed by a failing call, appears in no output, log or cache" {
	fake --key "$KEY" $(faults '[{"path": "^/v1/images/edits$", "status": 400, "body": {"error": {"message": "bad request from key sk-test-SECRET-1234", "type": "invalid_request_error", "param": null, "code": null}}}]')
	export OPENAI_API_KEY=$KEY
	{
		sub chat text2text -p prompt=hello
		sub once text2text -p prompt=hello -p stream=false -p mode=optimize
		sub img text2image -p prompt=x
		sub url text2image -p prompt=x -p model=dall-e-3 -p response_format=url
		sub edit image2image -p prompt=x -r "$ROOT/share/filmeto/examples/hello-contact.png"
		sub say text2speak -p text=hello
		sub t2v text2video -p prompt=x
		sub i2v image2video -p prompt=x -r "$ROOT/share/filmeto/examples/hello-contact.png"
		sub badmodel text2image -p prompt=x -p model=bad-model
	} | go -j 3
	[ "$status" -eq 1 ]
	filmeto-watch < events > watched 2>&1 || true
	holds events "sorted(l['task_id'] for l in by('failed')) == ['badmodel', 'edit']" \
		"len(by('completed')) == 7" \
		"'[redacted]' in one('failed','edit')['error']['message']" \
		"'[redacted]' in json.dumps(one('failed','edit')['error']['details'])"
	# it did arrive, as the Bearer header of every request to the API
	[ "$(grep -c "\"Authorization\": \"Bearer $KEY\"" "$FAKE_LOG")" -ge 12 ]
	! grep -rF "$KEY" events errlog watched out "$XDG_CACHE_HOME" "$XDG_STATE_HOME" "$XDG_DATA_HOME"
	! grep -rF "SECRET" events errlog watched out "$XDG_CACHE_HOME"
}

# no_key_in PATH...: the key appears in none of the files (directories
# walked) in any spelling: as it is, \u- or %-escaped, as HTML, in base64.
no_key_in() {
	python3 "$FAKES/fakelib.py" leaks "$KEY" "$@"
}

@test "a key echoed JSON-escaped, URL-encoded, in base64 or split across stream chunks is redacted from events, logs, outputs and the cache" {
	fake --key "$KEY" $(faults '[
	  {"path": "^/v1/images/generations$", "status": 400, "raw": "{\"error\": {\"message\": \"bad key {key|json}, or {key|jsonmixed}?\", \"type\": \"invalid_request_error\", \"param\": null, \"code\": null}, \"sent\": {\"{key|jsonmixed}\": \"Basic {key|b64}\"}}"},
	  {"path": "^/v1/audio/speech$", "status": 400, "type": "text/plain", "raw": "denied: Authorization=Bearer%20{key|url}; {key[:7]}&#x2d;{key[8:]}"},
	  {"path": "^/v1/videos$", "status": 400, "raw": "{\"error\": {\"message\": \"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789 {key}\"}}"}
	]')
	export OPENAI_API_KEY=$KEY
	{
		sub chat text2text -p prompt=echo-key
		sub once text2text -p prompt=echo-key -p stream=false
		sub img text2image -p prompt=x
		sub say text2speak -p text=hello
		sub t2v text2video -p prompt=x
	} >tasks
	# Twice through the cache: the second run hands out what the first stored.
	filmeto-run -j 2 -d out <tasks >events 2>errlog || true
	filmeto-run -j 2 -d out <tasks >events2 2>>errlog || true
	filmeto-watch <events >watched 2>&1 || true
	holds events "one('completed','chat')['metadata']['text'] == 'echo: the key is [redacted] and [redacted].'" \
		"one('completed','once')['metadata']['text'] == 'echo: the key is [redacted].'" \
		"'bad key [redacted], or [redacted]?' in one('failed','img')['error']['message']" \
		"list(one('failed','img')['error']['details']['body']['sent']) == ['[redacted]']" \
		"one('failed','img')['error']['details']['body']['sent']['[redacted]'].startswith('Basic [redacted]')" \
		"one('failed','say')['error']['details']['body'] == 'denied: Authorization=Bearer%20[redacted]; [redacted]'" \
		"one('failed','t2v')['error']['message'].endswith('789 [redacted]')"
	holds events2 "one('completed','chat')['metadata'].get('cached') is True"
	[ "$(cat out/chat/text.txt)" = 'echo: the key is [redacted] and [redacted].' ]
	[ "$(cat out/once/text.txt)" = 'echo: the key is [redacted].' ]
	# The fake did echo it: every reply above held the key, spelled its way.
	[ "$(grep -c "\"Authorization\": \"Bearer $KEY\"" "$FAKE_LOG")" -ge 5 ]
	no_key_in events events2 errlog watched out "$XDG_CACHE_HOME" "$XDG_STATE_HOME" "$XDG_DATA_HOME"
}

@test "the key goes only under the endpoint: not to another path, host or port, not after a redirect, not to a file URL" {
	fake --key "$KEY" $(faults '[
	  {"path": "^/v1/audio/speech$", "status": 307, "headers": {"Location": "{base}/elsewhere/speech"}},
	  {"path": "^/v1/audio/speech$", "status": 307, "headers": {"Location": "{other}/v1/audio/speech2"}},
	  {"path": "^/v1/audio/speech$", "status": 308, "headers": {"Location": "{base}/v1/%2e%2e/elsewhere"}},
	  {"path": "^/v1/audio/speech$", "status": 302, "headers": {"Location": "{base}/v1evil/speech"}},
	  {"path": "^/v1/audio/speech$", "status": 307, "headers": {"Location": "/v1/./audio/speech"}}
	]')
	export OPENAI_API_KEY=$KEY
	{
		sub path text2speak -p text=hello
		sub host text2speak -p text=hello
		sub dots text2speak -p text=hello
		sub evil text2speak -p text=hello
		sub ok text2speak -p text=hello
		sub url text2image -p prompt=x -p model=dall-e-3 -p response_format=url
	} | go -j 1
	[ "$status" -eq 1 ]
	holds events "sorted(l['task_id'] for l in by('completed')) == ['ok', 'url']" \
		"sorted(l['task_id'] for l in by('failed')) == ['dots', 'evil', 'host', 'path']" \
		"all(l['error']['details']['status'] == 401 for l in by('failed'))"
	# Every hop was made, and only those under /v1 on 127.0.0.1 carried the key.
	holds "$FAKE_LOG" \
		"[l['path'] for l in lines if l['path'] in ('/elsewhere/speech', '/v1/%2e%2e/elsewhere', '/v1evil/speech')] == ['/elsewhere/speech', '/v1/%2e%2e/elsewhere', '/v1evil/speech']" \
		"all('Authorization' not in l['headers'] for l in lines if not l['path'].startswith('/v1/') or '%2e' in l['path'])" \
		"[(l['path'], l['headers'].get('Authorization')) for l in lines if l['headers'].get('Host', '').startswith('localhost')] == [('/v1/audio/speech2', None)]" \
		"len([l for l in lines if l['path'] == '/v1/audio/speech' and l['headers'].get('Authorization') == 'Bearer $KEY']) == 6" \
		"[l['headers'].get('Authorization') for l in lines if l['path'].startswith('/files/')] == [None]"
	[ -s out/ok/speech.wav ]
	no_key_in events errlog out
}

# --- errors, retries, timeouts ------------------------------------------

@test "400 for a bad model or prompt is a VALIDATION_ERROR with the service's error in details" {
	fake
	{
		sub model text2text -p prompt=x -p model=bad-llm
		sub prompt text2image -p prompt='FORBIDDEN thing'
	} | go
	[ "$status" -eq 1 ]
	holds events "one('failed','model')['error']['code'] == 'VALIDATION_ERROR'" \
		"one('failed','model')['error']['details']['body']['error']['code'] == 'model_not_found'" \
		"'bad-llm' in one('failed','model')['error']['message']" \
		"one('failed','prompt')['error']['code'] == 'VALIDATION_ERROR'" \
		"one('failed','prompt')['error']['details']['body']['error']['code'] == 'content_policy_violation'" \
		"one('failed','prompt')['error']['details']['status'] == 400"
	[ ! -e out/prompt/image-1.png ]
}

@test "429 with Retry-After is waited out, then the task succeeds; a 429 that persists is RATE_LIMIT_EXCEEDED" {
	fake $(faults '[{"path": "^/v1/images/generations$", "status": 429, "headers": {"Retry-After": "1"}, "body": {"error": {"message": "Rate limit reached for requests", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}, "times": 1},
		{"path": "^/v1/audio/speech$", "status": 429, "headers": {"Retry-After": "0"}, "body": {"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}, "times": -1}]')
	config 'retries: 2'
	start=$(date +%s%N)
	sub img text2image -p prompt=x | go
	took=$(( ($(date +%s%N) - start) / 1000000 ))
	[ "$status" -eq 0 ]
	[ "$took" -ge 1000 ]
	[ "$(grep -c '"/v1/images/generations"' "$FAKE_LOG")" -eq 2 ]
	holds events "len(one('completed','img')['output_files']) == 1" \
		"any(l['type'] == 'log' and 'status 429; retry 1 in 1.0 s' in l['message'] for l in lines)" \
		"any(p['stage'] == 'retrying' for p in ev('progress','img'))"
	sub say text2speak -p text=hello | go
	[ "$status" -eq 1 ]
	holds events "one('failed','say')['error']['code'] == 'RATE_LIMIT_EXCEEDED'" \
		"one('failed','say')['error']['details']['attempts'] == 3" \
		"one('failed','say')['error']['details']['body']['error']['code'] == 'insufficient_quota'"
}

@test "a 503 then success; a 500 is a SERVICE_ERROR at once" {
	fake $(faults '[{"path": "^/v1/chat/completions$", "status": 503, "body": {"error": {"message": "The engine is currently overloaded", "type": "server_error", "param": null, "code": null}}, "times": 1},
		{"path": "^/v1/images/generations$", "status": 500, "body": {"error": {"message": "The server had an error while processing your request.", "type": "server_error", "param": null, "code": null}}, "times": -1}]')
	{
		sub chat text2text -p prompt=hello
		sub img text2image -p prompt=x
	} | go
	[ "$status" -eq 1 ]
	[ "$(cat out/chat/text.txt)" = 'echo: hello' ]
	[ "$(grep -c '"/v1/chat/completions"' "$FAKE_LOG")" -eq 2 ]
	[ "$(grep -c '"/v1/images/generations"' "$FAKE_LOG")" -eq 1 ]
	holds events "one('failed','img')['error']['code'] == 'SERVICE_ERROR'" \
		"one('failed','img')['error']['details']['status'] == 500" \
		"'overloaded' not in json.dumps(by('failed'))"
}

@test "a service slower than the timeout setting is a TIMEOUT_ERROR" {
	fake $(faults '[{"path": "^/v1/images/generations$", "delay": 4, "times": -1}]')
	config 'timeout: 1'
	sub slow text2image -p prompt=x | go
	[ "$status" -eq 1 ]
	# Given up after the 1 s setting, not after the 4 s the service takes
	# (the task's own time: a loaded machine slows the start, not this).
	holds events "one('failed','slow')['error']['code'] == 'TIMEOUT_ERROR'" \
		"one('failed','slow')['execution_time'] < 3" \
		"'timed out' in one('failed','slow')['error']['message']"
}

# --- cancel ---------------------------------------------------------------

@test "cancel mid-video cancels the video at the service too; nothing is left behind" {
	private
	fake --video-steps 100000
	mkfifo in
	filmeto-run -d out < in > events 2> errlog &
	pid=$!
	exec {feed}> in
	sub v text2video -p prompt=waves >&"$feed"
	for _ in $(seq 100); do grep -q '"stage":"in_progress"' events && break; sleep 0.05; done
	echo '{"type":"cancel","task_id":"v"}' >&"$feed"
	exec {feed}>&-
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq 1 ]
	holds events "one('cancelled','v')['error']['code'] == 'TASK_CANCELLED'" \
		"len(by('completed')) == 0"
	id=$(jget events '[l for l in lines if l["type"] == "log" and "made by" in l["message"]][0]["message"].split()[1].rstrip(":")')
	grep -q "\"DELETE\", \"path\": \"/v1/videos/$id\"" "$FAKE_LOG"
	[ "$(plugin_procs)" -eq 0 ]
	[ -z "$(ls -A out/v 2>/dev/null)" ]
}

@test "SIGINT during a streamed answer stops it at once: status 130, no process or file left" {
	private
	fake --chunk-delay 0.1 --words 300
	mkfifo in
	filmeto-run -d out < in > events 2> errlog &
	pid=$!
	exec {feed}> in
	sub chat text2text -p prompt='tell me everything' >&"$feed"
	for _ in $(seq 100); do grep -q 'characters, ' events && break; sleep 0.05; done
	start=$(date +%s)
	kill -INT "$pid"
	status=0
	wait "$pid" || status=$?
	exec {feed}>&-
	[ "$status" -eq 130 ]
	[ $(( $(date +%s) - start )) -lt 3 ]
	holds events "one('cancelled','chat')['error']['code'] == 'TASK_CANCELLED'"
	[ "$(plugin_procs)" -eq 0 ]
	[ -z "$(ls -A out/chat 2>/dev/null)" ]
}

# --- malformed replies ------------------------------------------------------

@test "malformed replies: truncated JSON, a missing field, bad base64, a cut stream are SERVICE_ERRORs that say what was wrong" {
	png=$(python3 -c 'import base64, sys; sys.path.insert(0, sys.argv[1]); import fakelib; print(base64.b64encode(fakelib.png(8, 8)).decode())' "$FAKES")
	fake $(faults '[{"path": "^/v1/images/generations$", "status": 200, "body": {"created": 1, "data": [{"b64_json": "'"$png"'"}, {"revised_prompt": "x"}]}, "times": 1},{"path": "^/v1/images/generations$", "status": 200, "raw": "{\"created\": 1, \"data\": [{\"b64_json\": \"iVBO", "times": 1},
		{"path": "^/v1/images/generations$", "status": 200, "body": {"created": 1}, "times": 1},
		{"path": "^/v1/images/generations$", "status": 200, "body": {"created": 1, "data": [{"b64_json": "***not base64***"}]}, "times": 1},
		{"path": "^/v1/chat/completions$", "status": 200, "type": "text/event-stream", "raw": "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"half\"},\"finish_reason\":null}]}\n\n", "times": 1},
		{"path": "^/v1/chat/completions$", "status": 200, "body": {"id": "x", "object": "chat.completion", "choices": []}, "times": 1}]')
	{
		sub half text2image -p prompt=x -p n=2
		sub trunc text2image -p prompt=x
		sub nodata text2image -p prompt=x
		sub notb64 text2image -p prompt=x
		sub cut text2text -p prompt=x
		sub empty text2text -p prompt=x -p stream=false
	} | go -j 1 # one at a time: each request meets its fault, in order
	[ "$status" -eq 1 ]
	holds events "set(l['error']['code'] for l in by('failed')) == {'SERVICE_ERROR'}" \
		"len(by('failed')) == 6" \
		"'data[1] with neither b64_json nor url' in one('failed','half')['error']['message']" \
		"'not JSON' in one('failed','trunc')['error']['message']" \
		"one('failed','trunc')['error']['details']['body'].startswith('{\"created\": 1')" \
		"\"no 'data' array\" in one('failed','nodata')['error']['message']" \
		"'not base64' in one('failed','notb64')['error']['message']" \
		"'ended before' in one('failed','cut')['error']['message']" \
		"'empty' in one('failed','empty')['error']['message']"
	# no file, whole or partial, of any failed task
	[ -z "$(find out -type f 2>/dev/null)" ]
}

@test "malformed replies: HTML where audio, video or a stream was expected, and an image URL that 404s" {
	fake --video-steps 1 $(faults '[{"path": "^/v1/audio/speech$", "status": 200, "type": "text/html", "raw": "<html><body>Welcome to nginx!</body></html>", "times": 1},
		{"path": "^/v1/videos/[^/]+/content$", "status": 200, "type": "text/html", "raw": "<html>login</html>", "times": 1},
		{"path": "^/v1/chat/completions$", "status": 200, "type": "text/html", "raw": "<html>portal</html>", "times": 1},
		{"path": "^/files/", "status": 404, "body": {"error": {"message": "Not found", "type": "invalid_request_error", "param": null, "code": null}}, "times": 1}]')
	{
		sub say text2speak -p text=hello
		sub vid text2video -p prompt=x
		sub chat text2text -p prompt=x
		sub url text2image -p prompt=x -p model=dall-e-3 -p response_format=url
	} | go
	[ "$status" -eq 1 ]
	holds events "one('failed','say')['error']['code'] == 'SERVICE_ERROR'" \
		"'text/html where audio was expected' in one('failed','say')['error']['message']" \
		"one('failed','vid')['error']['code'] == 'SERVICE_ERROR'" \
		"'text/html where a video was expected' in one('failed','vid')['error']['message']" \
		"one('failed','chat')['error']['code'] == 'SERVICE_ERROR'" \
		"'text/html' in one('failed','chat')['error']['message']" \
		"one('failed','url')['error']['code'] == 'RESOURCE_PROCESSING_ERROR'" \
		"'404' in one('failed','url')['error']['message'] and '/files/' in one('failed','url')['error']['message']"
	[ -z "$(find out -type f 2>/dev/null)" ]
}

@test "gzip bombs are counted as they inflate: a file or a stream past FILMETO_DOWNLOAD_MAX, a reply past 64 MiB fail and leave nothing" {
	done='data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"boom\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n'
	reply='{\"id\": \"x\", \"object\": \"chat.completion\", \"choices\": [{\"index\": 0, \"message\": {\"role\": \"assistant\", \"content\": \"boom\"}, \"finish_reason\": \"stop\"}]}'
	fake $(faults '[{"path": "^/v1/audio/speech$", "type": "audio/wav", "gzip_bomb": 50000000, "times": 1},
		{"path": "^/v1/audio/speech$", "type": "audio/wav", "gzip_bomb": 300000, "times": 1},
		{"path": "^/v1/chat/completions$", "type": "text/event-stream", "gzip_bomb": 50000000, "fill": ":\n", "tail": "'"$done"'", "times": 1},
		{"path": "^/v1/chat/completions$", "gzip_bomb": 70000000, "fill": " ", "tail": "'"$reply"'", "times": 1}]')
	export FILMETO_DOWNLOAD_MAX=1000000
	{
		sub bomb text2speak -p text=hello
		sub small text2speak -p text=hello
		sub stream text2text -p prompt=x
		sub body text2text -p prompt=x -p stream=false
	} | go -j 1
	[ "$status" -eq 1 ]
	# 50 MB came in as ~50 KB on the wire; each ended at its limit
	holds events "one('failed','bomb')['error']['code'] == 'SERVICE_ERROR'" \
		"'more than the 1000000 byte download limit (FILMETO_DOWNLOAD_MAX)' in one('failed','bomb')['error']['message']" \
		"one('completed','small')['output_resources'][0]['size'] == 300000" \
		"'more than the 1000000 byte download limit (FILMETO_DOWNLOAD_MAX)' in one('failed','stream')['error']['message']" \
		"'more than the 67108864 byte limit of a reply kept in memory' in one('failed','body')['error']['message']"
	# nothing of the failed tasks, whole or partial; the small one inflated whole
	[ -z "$(find out/bomb out/stream out/body -type f 2> /dev/null)" ]
	[ "$(stat -c %s out/small/speech.wav)" -eq 300000 ]
	[ "$(tr -d '\0' < out/small/speech.wav | wc -c)" -eq 0 ]
	# files are asked for as they are, JSON and streams compressed
	holds "$FAKE_LOG" "set(l['headers'].get('Accept-Encoding') for l in lines if l['path'].endswith('/speech')) == {'identity'}" \
		"all('gzip' in l['headers'].get('Accept-Encoding', '') for l in lines if l['path'].endswith('/completions'))"
	# an answer that is not a number of bytes fails the task before it asks
	FILMETO_DOWNLOAD_MAX=lots
	sub lots text2speak -p text=hello | go
	[ "$status" -eq 1 ]
	holds events "\"FILMETO_DOWNLOAD_MAX='lots' is not a positive number of bytes\" in one('failed','lots')['error']['message']"
}

# --- in a film ----------------------------------------------------------------

@test "a storyboard narrated by openai's text2speak renders a film with its speech" {
	fake
	mkdir -p "$XDG_CONFIG_HOME/filmeto"
	{
		echo 'defaults: {text2speak: openai}'
		cat "$XDG_CONFIG_HOME/filmeto/config.yaml"
	} > c.yaml
	mv c.yaml "$XDG_CONFIG_HOME/filmeto/config.yaml"
	cat > board.yaml <<-'EOF'
	size: 320x240
	fps: 12
	scenes:
	  - prompt: The lighthouse
	    narration: Every evening the keeper climbed the steps.
	    duration: 2
	  - prompt: The storm
	    narration: That night the storm came.
	    duration: 2
	EOF
	filmeto-submit --storyboard board.yaml | go -o film.mp4
	[ "$status" -eq 0 ]
	probe film.mp4 stream=codec_type > streams
	grep -qx audio streams
	grep -qx video streams
	[ "$(grep -c '"/v1/audio/speech"' "$FAKE_LOG")" -eq 2 ]
	# the pictures stay offline (titlecard): a remote plugin is used only when named
	sent 'len(lines) == 2' \
		'sorted(l["json"]["input"] for l in lines) == ["Every evening the keeper climbed the steps.", "That night the storm came."]' \
		'all(l["json"]["response_format"] == "wav" for l in lines)'
}
