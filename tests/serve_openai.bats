#!/usr/bin/env bats
# filmeto-serve's OpenAI-compatible routes (/v1/...): curl for each route
# and its errors, in OpenAI's shapes, and the official openai npm SDK
# (tests/openai_sdk.mjs) as a client, its outputs checked with ffprobe and
# file. Each request is a spooled task; tests/plugins/chatter streams.

load test_helper
load serve_helper

ALICE=alice-key-0123456789abcdef
BOB=bob-key-0123456789abcdef0

setup() {
	serve_setup
}

teardown() {
	serve_teardown
}

# alice_bob: the key file keys, of alice and bob.
alice_bob() { keys keys "alice $ALICE" "bob $BOB"; }

# oai_error STATUS TYPE CODE [PARAM]: body is OpenAI's error shape, so.
oai_error() {
	python3 - "$@" <<-'PY'
		import json, sys
		b = json.load(open("body"))
		assert set(b) == {"error"}, b
		e = b["error"]
		assert set(e) == {"message", "type", "param", "code"}, e
		assert e["message"], e
		assert e["type"] == sys.argv[2], e
		assert e["code"] == sys.argv[3], e
		assert len(sys.argv) < 5 or e["param"] == sys.argv[4], e
	PY
}

chat() { printf '{"model":"%s","messages":[{"role":"user","content":"%s"}]%s}' "$1" "$2" "${3:-}"; }

@test "GET /v1/models: one model per plugin and per tool of a route, in OpenAI's list shape" {
	serve --workers 0
	[ "$(api GET /v1/models)" = 200 ]
	[ "$(field 'b["object"]')" = list ]
	[ "$(field 'sorted(set(k for m in b["data"] for k in m))')" = '["created", "id", "object", "owned_by"]' ]
	[ "$(field 'all(m["object"] == "model" for m in b["data"])')" = true ]
	ids=$(field '[m["id"] for m in b["data"]]')
	for m in titlecard espeak kenburns chatter titlecard/text2image espeak/text2speak \
		chatter/text2text kenburns/image2video; do
		[[ "$ids" == *"\"$m\""* ]]
	done
	# noop serves no tool a route runs.
	[[ "$ids" != *'"noop"'* ]]
}

@test "the openai SDK lists, makes an image, speech, a streamed chat and a video" {
	command -v node >/dev/null || { echo "node is not installed" >&2; false; }
	needs_node_client openai
	alice_bob
	serve --key-file keys
	run node "$ROOT/tests/openai_sdk.mjs" "$URL" "$ALICE" out
	[ "$status" -eq 0 ] || { echo "$output"; cat serve.err; false; }
	echo "$output" >seen.json
	seen() { python3 -c 'import json, sys; b = json.load(open("seen.json")); v = eval(sys.argv[1]); print(v if isinstance(v, str) else json.dumps(v))' "$1"; }
	[[ "$(seen 'b["models"]')" == *'"titlecard"'* ]]
	[[ "$(file out/image.png)" == *"PNG image data, 320 x 240"* ]]
	# (what the URL gave, should it be no PNG: seen once under load in make check)
	[[ "$(file out/image-url.png)" == *"PNG image data, 320 x 240"* ]] || {
		seen '[b["url"], b["url_status"], b["url_type"]]'
		head -c 300 out/image-url.png
		cat serve.err
		false
	}
	[ "$(seen 'b["url_status"]')" = 200 ]
	[[ "$(seen 'b["url"]')" == "$URL/api/v1/tasks/img-"*"/files/0" ]]
	[ "$(seen 'b["speech_type"]')" = audio/wav ]
	[ "$(probe out/speech.wav stream=codec_type a:0)" = audio ]
	# The chat came in pieces: the plugin's deltas, joined, are its answer.
	[ "$(seen 'b["chat"]')" = "You said: stream these words back" ]
	[ "$(seen 'b["chunks"] > 1')" = true ]
	[ "$(seen 'b["video_status"]')" = completed ]
	[ "$(seen 'b["progress"][-1]')" = 100 ]
	[ "$(seen 'all(0 <= p <= 100 for p in b["progress"])')" = true ]
	[ "$(probe out/video.mp4 stream=codec_name v:0)" = h264 ]
	d=$(ffprobe -v error -show_entries format=duration -of csv=p=0 out/video.mp4)
	python3 -c "assert abs($d - 2) < 0.1, $d"
	# Each request was a task like any other, queued by alice's key.
	run filmeto-watch --list
	[[ "$output" == *"$(seen 'b["video_id"]')"* ]]
	[[ "$output" == *chatcmpl-* ]]
	[[ "$output" == *speech-* ]]
	[ "$(api GET "/api/v1/tasks/$(seen 'b["video_id"]')" -H "Authorization: Bearer $BOB")" = 404 ]
	[ "$(api GET "/v1/videos/$(seen 'b["video_id"]')" -H "Authorization: Bearer $BOB")" = 404 ]
	oai_error 404 invalid_request_error task_not_found
}

@test "chat: an answer whole, and streamed as chunks ending in [DONE]" {
	serve
	[ "$(api POST /v1/chat/completions --data-binary "$(chat chatter 'say it whole')")" = 200 ]
	[ "$(field 'b["object"]')" = chat.completion ]
	[ "$(field 'b["choices"][0]["message"]["content"]')" = "You said: say it whole" ]
	[ "$(field 'b["choices"][0]["finish_reason"]')" = stop ]
	curl -sN -m 20 -D headers -o stream -X POST "$URL/v1/chat/completions" \
		--data-binary "$(chat chatter 'one two three' ',"stream":true')"
	grep -qi '^content-type: text/event-stream' headers
	[ "$(tail -n 2 stream | head -n 1)" = "data: [DONE]" ]
	python3 - <<-'PY'
		import json
		events = [l[6:] for l in open("stream").read().split("\n") if l.startswith("data: ")]
		assert events[-1] == "[DONE]", events
		chunks = [json.loads(e) for e in events[:-1]]
		assert all(c["object"] == "chat.completion.chunk" for c in chunks)
		text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
		assert text == "You said: one two three", text
		assert len(chunks) == 6, len(chunks)  # five words, then finish_reason stop
		assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
		assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
	PY
}

@test "errors on /v1 are in OpenAI's shape: unknown model, bad JSON, missing fields, key, route" {
	alice_bob
	serve --workers 0 --key-file keys
	A=(-H "Authorization: Bearer $ALICE")
	[ "$(api POST /v1/images/generations "${A[@]}" --data-binary '{"model":"nope","prompt":"x"}')" = 404 ]
	oai_error 404 invalid_request_error model_not_found model
	[ "$(api POST /v1/audio/speech "${A[@]}" --data-binary '{"model":"titlecard","input":"x","voice":"alloy"}')" = 404 ]
	oai_error 404 invalid_request_error model_not_found model
	[ "$(api POST /v1/chat/completions "${A[@]}" --data-binary '{"model":')" = 400 ]
	oai_error 400 invalid_request_error invalid_json
	[ "$(api POST /v1/images/generations "${A[@]}" --data-binary '{"model":"titlecard"}')" = 400 ]
	oai_error 400 invalid_request_error missing_required_parameter prompt
	[ "$(api POST /v1/images/generations "${A[@]}" --data-binary '{"prompt":"x"}')" = 400 ]
	oai_error 400 invalid_request_error missing_required_parameter model
	[ "$(api POST /v1/images/generations "${A[@]}" --data-binary '{"model":"titlecard","prompt":"x","size":"big"}')" = 400 ]
	oai_error 400 invalid_request_error invalid_value size
	[ "$(api POST /v1/images/generations "${A[@]}" --data-binary '{"model":"titlecard","prompt":"x","n":2}')" = 400 ]
	oai_error 400 invalid_request_error invalid_value n
	[ "$(api POST /v1/chat/completions "${A[@]}" --data-binary '{"model":"chatter","messages":[]}')" = 400 ]
	oai_error 400 invalid_request_error missing_required_parameter messages
	[ "$(api POST /v1/videos "${A[@]}" --data-binary '{"model":"kenburns","prompt":"x"}')" = 400 ]
	oai_error 400 invalid_request_error missing_required_parameter input_reference
	# The task's own checks refuse what the tool cannot take, extra fields too.
	[ "$(api POST /v1/images/generations "${A[@]}" --data-binary '{"model":"titlecard","prompt":"x","size":"8x8"}')" = 400 ]
	oai_error 400 invalid_request_error validation_error
	[[ "$(field 'b["error"]["message"]')" == *width* ]]
	[ "$(api POST /v1/images/generations "${A[@]}" --data-binary '{"model":"titlecard","prompt":"x","font_size":"huge"}')" = 400 ]
	oai_error 400 invalid_request_error validation_error
	[[ "$(field 'b["error"]["message"]')" == *font_size* ]]
	[ "$(api GET /v1/models -H "Authorization: Bearer wrong-key-0123456789")" = 401 ]
	oai_error 401 invalid_request_error invalid_api_key
	[ "$(api GET /v1/models)" = 401 ]
	oai_error 401 invalid_request_error invalid_api_key
	[ "$(api GET "/v1/models?api_key=$ALICE")" = 401 ]
	[[ "$(cat body)" != *"$ALICE"* ]]
	[ "$(api GET /v1/nothing "${A[@]}")" = 404 ]
	oai_error 404 invalid_request_error validation_error
	[ "$(api DELETE /v1/models "${A[@]}")" = 405 ]
	oai_error 405 invalid_request_error validation_error
	[ "$(api GET /v1/videos/%2e%2e "${A[@]}")" = 400 ]
	oai_error 400 invalid_request_error validation_error
	[ "$(api GET /v1/videos/video-none/content "${A[@]}")" = 404 ]
	oai_error 404 invalid_request_error task_not_found
	# The seeds' routes keep their envelope.
	[ "$(api GET /api/v1/tasks/none "${A[@]}")" = 404 ]
	[ "$(field 'sorted(b["error"])')" = '["code", "details", "message"]' ]
	# Nothing refused was queued.
	run filmeto-watch --list
	[ -z "$output" ]
}

@test "videos: created queued, cancelled by DELETE; a failed task is said failed" {
	serve --workers 0
	printf 'not a png' >ref.png
	curl -s -m 20 -o body -F model=kenburns -F prompt=x -F seconds=1 -F size=64x64 \
		-F input_reference=@ref.png\;type=image/png "$URL/v1/videos"
	[ "$(field 'b["object"]')" = video ]
	[ "$(field 'b["status"]')" = queued ]
	[ "$(field 'b["progress"]')" = 0 ]
	[ "$(field 'b["seconds"]')" = 1 ]
	id=$(field 'b["id"]')
	[ "$(api DELETE "/v1/videos/$id")" = 200 ]
	[ "$(field 'b["deleted"]')" = true ]
	[ "$(api GET "/v1/videos/$id")" = 200 ]
	[ "$(field 'b["status"]')" = failed ]
	[ "$(api DELETE "/v1/videos/$id")" = 409 ]
	oai_error 409 invalid_request_error validation_error
	# A worker runs the next one: kenburns cannot read that image.
	kill -TERM "$SERVE_PID"
	wait "$SERVE_PID" || true
	serve
	curl -s -m 20 -o body -F model=kenburns -F prompt=x -F seconds=1 -F size=64x64 \
		-F input_reference=@ref.png\;type=image/png "$URL/v1/videos"
	id=$(field 'b["id"]')
	video_status() { api GET "/v1/videos/$id" >/dev/null && [ "$(field 'b["status"]')" = "$1" ]; }
	wait_for -t 30 video_status failed
	[ "$(field 'b["error"]["code"]')" = RESOURCE_PROCESSING_ERROR ]
	[ "$(api GET "/v1/videos/$id/content")" = 404 ]
	oai_error 404 invalid_request_error task_not_found
}

@test "a client that leaves mid-wait cancels its task; the server serves on" {
	serve
	curl -s -m 30 -X POST "$URL/v1/chat/completions" \
		--data-binary "$(chat chatter 'slow words here' ',"delay":1')" >/dev/null &
	CLIENT_PID=$!
	id() { filmeto-watch --list 2>/dev/null | grep -o 'chatcmpl-[0-9a-f]*' | head -n 1; }
	wait_for eval '[ -n "$(id)" ] && is_state "$(id)" running'
	kill "$CLIENT_PID"
	wait "$CLIENT_PID" || true
	CLIENT_PID=
	wait_for is_state "$(id)" cancelled
	[ "$(api GET /v1/models)" = 200 ]
}

@test "an image's url names this server, never a Host header it does not answer to" {
	# Without keys a foreign Host is refused outright (DNS rebinding); with
	# keys it is served, and still not handed back in a url.
	serve
	[ "$(api POST /v1/images/generations -H 'Host: evil.example:80' --data-binary '{"model":"titlecard","prompt":"host","size":"64x64"}')" = 403 ]
	kill -TERM "$SERVE_PID"
	wait "$SERVE_PID" || true
	alice_bob
	serve --key-file keys
	auth=(-H "Authorization: Bearer $ALICE")
	[ "$(api POST /v1/images/generations "${auth[@]}" -H 'Host: evil.example:80' --data-binary '{"model":"titlecard","prompt":"host","size":"64x64"}')" = 200 ]
	[[ "$(field 'b["data"][0]["url"]')" == "$URL/api/v1/tasks/img-"*"/files/0" ]]
	[ "$(api POST /v1/images/generations "${auth[@]}" -H "Host: localhost:$PORT" --data-binary '{"model":"titlecard","prompt":"host2","size":"64x64"}')" = 200 ]
	[[ "$(field 'b["data"][0]["url"]')" == "http://localhost:$PORT/api/v1/tasks/img-"* ]]
	curl -s -m 20 "${auth[@]}" -o card.png "$(field 'b["data"][0]["url"]')"
	[[ "$(file card.png)" == *"PNG image data, 64 x 64"* ]]
}

@test "a synchronous route that waits too long answers 504 in OpenAI's shape and cancels its task" {
	FILMETO_SERVE_OPENAI_WAIT=0.5 serve
	[ "$(api POST /v1/chat/completions --data-binary "$(chat chatter 'too slow to wait for' ',"delay":2')")" = 504 ]
	oai_error 504 server_error timeout
	id=$(filmeto-watch --list 2>/dev/null | grep -o 'chatcmpl-[0-9a-f]*' | head -n 1)
	wait_for is_state "$id" cancelled
	# Streamed, the error is the last event before [DONE].
	curl -sN -m 20 -o stream -X POST "$URL/v1/chat/completions" \
		--data-binary "$(chat chatter 'slow and streamed' ',"delay":2,"stream":true')"
	[ "$(tail -n 2 stream | head -n 1)" = "data: [DONE]" ]
	grep -q '^data: {"error":{.*"code":"timeout"' stream
	FILMETO_SERVE_OPENAI_WAIT=9999 run filmeto-serve --listen "127.0.0.1:$(free_port)"
	[ "$status" -eq 2 ]
	[[ "$output" == *FILMETO_SERVE_OPENAI_WAIT* ]]
}

@test "a connection whose image or chat was answered is closed and swept once, the server lives on" {
	# The wait takes the connection over from the record that sweeps idle
	# ones; both kept it once, and the sweep freed it a second time a
	# timeout after the answer (a crash in libevent).
	FILMETO_SERVE_TIMEOUT=0.5 serve
	[ "$(api POST /v1/images/generations --data-binary '{"model":"titlecard","prompt":"h","size":"320x180"}')" = 200 ]
	[ "$(api POST /v1/chat/completions --data-binary "$(chat chatter hi)")" = 200 ]
	# The sweep runs each second and a connection goes after twice the
	# timeout: three seconds see it done, whatever it did.
	sleep 3
	kill -0 "$SERVE_PID"
	[ "$(api GET /health)" = 200 ]
}
