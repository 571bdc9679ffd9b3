#!/usr/bin/env bats
# The comfyui plugin in real pipelines against tests/fakes/fake_comfyui.py,
# which speaks ComfyUI's wire format on loopback: /prompt, /upload/image,
# /history, /view, /interrupt and the WebSocket /ws with text and binary
# frames. Workflow templates, progress, the polling fallback, every error
# class, retries, timeouts, cancel, malformed replies and settings.

load test_helper

setup() {
	common_setup
	# `sub ... | go` sets $status in the test itself
	shopt -s lastpipe
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
	unset COMFYUI_URL
	REMOTE=comfyui
	ENDPOINT=config
}

teardown() {
	stop_fakes
}

png_of() { # FILE W H: a real PNG of that size
	python3 -c "import sys; sys.path.insert(0, '$FAKES'); import fakelib; open('$1', 'wb').write(fakelib.png($2, $3))"
}

# --- success ----------------------------------------------------------------

@test "text2image over the WebSocket: a real PNG of the size asked, progress per step, the seed recorded" {
	fake --previews
	sub img text2image -p prompt='a lighthouse at dusk' -p width=160 -p height=96 -p steps=4 | go
	[ "$status" -eq 0 ]
	[ "$(probe out/img/image_00001_.png stream=codec_name,width,height)" = "png,160,96" ]
	holds events \
		"one('completed','img')['output_files'] == ['$BATS_TEST_TMPDIR/out/img/image_00001_.png']" \
		"one('completed','img')['output_resources'][0]['mime_type'] == 'image/png'" \
		"[p['percent'] for p in ev('progress','img') if ' of ' in p['message'] and p['stage'] == 'generate'] == [25, 50, 75, 100]" \
		"'node 3 (KSampler): 2 of 4' in [p['message'] for p in ev('progress','img')]" \
		"'node 9 (SaveImage)' in [p['message'] for p in ev('progress','img')]" \
		"isinstance(one('completed','img')['metadata']['seed'], int)" \
		"one('completed','img')['metadata']['model'] == 'v1-5-pruned-emaonly.safetensors'" \
		"len(one('completed','img')['metadata']['prompt_id']) == 36"
	seed=$(jget events 'by("completed")[0]["metadata"]["seed"]')
	# The graph ComfyUI got: placeholders filled, numbers kept numbers.
	holds "$FAKE_LOG" \
		"fake('prompt')[0]['prompt']['3']['inputs']['seed'] == $seed" \
		"fake('prompt')[0]['prompt']['3']['inputs']['steps'] == 4" \
		"fake('prompt')[0]['prompt']['3']['inputs']['cfg'] == 7.0" \
		"fake('prompt')[0]['prompt']['5']['inputs']['width'] == 160" \
		"fake('prompt')[0]['prompt']['6']['inputs']['text'] == 'a lighthouse at dusk'" \
		"fake('prompt')[0]['prompt']['7']['inputs']['text'] == ''" \
		"fake('prompt')[0]['client_id'] == fake('ws')[0]['client_id']" \
		"len(fake('ws_close')) == 1" \
		"len(req('GET', '/history/')) == 0" \
		"req('GET', '/view')[0]['path'] == '/view?filename=image_00001_.png&subfolder=filmeto&type=output'"
}

@test "a given seed, negative prompt and model reach the graph and the result" {
	fake
	sub s text2image -p prompt=sea -p negative_prompt='blurry, text' -p seed=42 -p steps=2 \
		-p model=dreamshaper_8.safetensors -p cfg=5.5 -p sampler=dpmpp_2m -p scheduler=karras | go
	[ "$status" -eq 0 ]
	holds events "one('completed','s')['metadata']['seed'] == 42" \
		"one('completed','s')['metadata']['model'] == 'dreamshaper_8.safetensors'"
	holds "$FAKE_LOG" \
		"fake('prompt')[0]['prompt']['3']['inputs']['seed'] == 42" \
		"fake('prompt')[0]['prompt']['3']['inputs']['cfg'] == 5.5" \
		"fake('prompt')[0]['prompt']['3']['inputs']['sampler_name'] == 'dpmpp_2m'" \
		"fake('prompt')[0]['prompt']['3']['inputs']['scheduler'] == 'karras'" \
		"fake('prompt')[0]['prompt']['4']['inputs']['ckpt_name'] == 'dreamshaper_8.safetensors'" \
		"fake('prompt')[0]['prompt']['7']['inputs']['text'] == 'blurry, text'"
}

@test "without a WebSocket the plugin polls /history and still gets the image" {
	fake --no-ws --step-delay 0.02
	sub p text2image -p prompt=fog -p width=64 -p height=80 -p steps=5 | go
	[ "$status" -eq 0 ]
	[ "$(probe out/p/image_00001_.png stream=width,height)" = "64,80" ]
	holds "$FAKE_LOG" "len(req('GET', '/ws?clientId=')) == 1" \
		"len(req('GET', '/history/')) >= 2" \
		"len(fake('ws')) == 0"
	grep -q 'polling /history' errlog || holds events "any('polling /history' in l['message'] for l in by('log'))"
}

@test "a WebSocket that drops mid-prompt: the plugin goes on by polling /history" {
	fake --ws-drop-at 3 --step-delay 0.02
	sub d text2image -p prompt=x -p width=64 -p height=64 -p steps=6 | go
	[ "$status" -eq 0 ]
	[ -s out/d/image_00001_.png ]
	holds events "any('polling /history instead' in l['message'] for l in by('log'))" \
		"'node 3 (KSampler): 2 of 6' in [p['message'] for p in ev('progress','d')]"
	holds "$FAKE_LOG" "len(fake('ws')) == 1" "len(req('GET', '/history/')) >= 1"
}

@test "every node cached: no executed message, the outputs come from /history" {
	fake --cached
	sub c text2image -p prompt=cached -p width=64 -p height=64 | go
	[ "$status" -eq 0 ]
	[ -s out/c/image_00001_.png ]
	holds events "'7 nodes cached' in [p['message'] for p in ev('progress','c')]"
	holds "$FAKE_LOG" "len(req('GET', '/history/')) >= 1" "len(fake('ws')) == 1"
}

@test "a prompt is queued only once ComfyUI greets the socket: no message goes to a socket it does not know yet" {
	# All cached: the whole prompt is over within a millisecond of being
	# queued, long before the socket is registered half a second later.
	fake --cached --ws-register-delay 0.5
	sub g text2image -p prompt=greet -p width=64 -p height=64 --timeout 20 | go
	[ "$status" -eq 0 ]
	[ -s out/g/image_00001_.png ]
	holds events "'7 nodes cached' in [p['message'] for p in ev('progress','g')]"
	holds "$FAKE_LOG" "len(fake('ws')) == 1"
}

@test "binary previews and another prompt's messages are skipped; executing null alone completes" {
	fake --previews --noise --no-success
	sub n text2image -p prompt=noise -p width=64 -p height=64 -p steps=3 | go
	[ "$status" -eq 0 ]
	[ -s out/n/image_00001_.png ]
	# The other prompt's progress (1 of 2) and error were not ours.
	holds events "not any(' of 2' in p['message'] for p in ev('progress','n'))" \
		"[p['percent'] for p in ev('progress','n') if ' of ' in p['message'] and p['stage'] == 'generate'] == [100/3, 200/3, 100]"
	holds "$FAKE_LOG" "len(req('GET', '/history/')) == 0"
}

@test "image2image uploads the input as multipart and LoadImage names the upload" {
	fake
	png_of in.png 80 48
	sub i2i image2image -p prompt='the same, at night' -p denoise=0.4 -p steps=2 -r in.png | go
	[ "$status" -eq 0 ]
	[ "$(probe out/i2i/image_00001_.png stream=width,height)" = "80,48" ]
	holds "$FAKE_LOG" \
		"req('POST', '/upload/image')[0]['headers']['Content-Type'].startswith('multipart/form-data; boundary=')" \
		"fake('upload')[0]['filename'] == 'i2i-in.png'" \
		"fake('upload')[0]['content_type'] == 'image/png' and fake('upload')[0]['png']" \
		"fake('upload')[0]['size'] == $(stat -c %s in.png)" \
		"fake('upload')[0]['type'] == 'input' and fake('upload')[0]['overwrite'] == 'true'" \
		"fake('prompt')[0]['prompt']['10']['inputs']['image'] == 'filmeto/i2i-in.png'" \
		"fake('prompt')[0]['prompt']['3']['inputs']['denoise'] == 0.4"
}

@test "image2image without an input image is a validation error before any request" {
	fake
	sub i2i image2image -p prompt=x | go
	[ "$status" -eq 1 ]
	holds events "one('failed','i2i')['error']['code'] == 'VALIDATION_ERROR'" \
		"'needs an input image' in one('failed','i2i')['error']['message']"
	[ ! -s "$FAKE_LOG" ]
}

@test "image2video: SVD workflow, a real H.264 MP4 with the frames and size asked" {
	fake
	png_of still.png 96 64
	sub v image2video -p width=128 -p height=96 -p frames=6 -p fps=6 -p steps=2 -r still.png | go
	[ "$status" -eq 0 ]
	[ "$(probe out/v/video_00001_.mp4 stream=codec_name,width,height,nb_frames)" = "h264,128,96,6" ]
	holds events "one('completed','v')['output_resources'][0]['mime_type'] == 'video/mp4'" \
		"one('completed','v')['metadata']['model'] == 'svd_xt.safetensors'"
	holds "$FAKE_LOG" "fake('prompt')[0]['prompt']['2']['inputs']['image'] == 'filmeto/v-still.png'" \
		"fake('prompt')[0]['prompt']['3']['inputs']['video_frames'] == 6"
}

@test "text2video: the Wan workflow makes an MP4" {
	fake
	sub tv text2video -p prompt='waves' -p width=96 -p height=64 -p frames=5 -p fps=5 -p steps=2 | go
	[ "$status" -eq 0 ]
	[ "$(probe out/tv/video_00001_.mp4 stream=codec_name,width,height,nb_frames)" = "h264,96,64,5" ]
}

# --- workflows ----------------------------------------------------------------

@test "a user's workflow: inline with -p workflow=@FILE and as an absolute path" {
	fake
	python3 - "$ROOT/share/filmeto/workflows/text2image.json" <<-'PY' > mine.json
	import json, sys
	g = json.load(open(sys.argv[1]))
	g["6"]["inputs"]["text"] = "masterpiece, {{prompt}}, {{width}}px"
	g["5"]["inputs"]["batch_size"] = 2
	print(json.dumps(g))
	PY
	{ sub a text2image -p prompt=gull -p width=64 -p height=64 -p workflow=@mine.json
	  sub b text2image -p prompt=tern -p width=64 -p height=64 -p workflow="$PWD/mine.json"; } | go -j 1
	# (one at a time: the fake numbers its files and the prompts are checked in order)
	[ "$status" -eq 0 ]
	[ "$(ls out/a)" = "$(printf 'image_00001_.png\nimage_00002_.png')" ]
	[ "$(ls out/b | wc -l)" -eq 2 ]
	holds "$FAKE_LOG" "fake('prompt')[0]['prompt']['6']['inputs']['text'] == 'masterpiece, gull, 64px'" \
		"fake('prompt')[1]['prompt']['6']['inputs']['text'] == 'masterpiece, tern, 64px'"
	holds events "one('completed','b')['metadata']['workflow'] == '$PWD/mine.json'"
}

@test "a placeholder with no value is a validation error naming it; nothing is queued" {
	fake
	echo '{"1": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}} by {{artist}}"}}}' > w.json
	sub w text2image -p prompt=x -p workflow="$PWD/w.json" | go
	[ "$status" -eq 1 ]
	holds events "one('failed','w')['error']['code'] == 'VALIDATION_ERROR'" \
		"'artist' in one('failed','w')['error']['message']" \
		"'w.json' in one('failed','w')['error']['message']"
	holds "$FAKE_LOG" "len(req('POST', '/prompt')) == 0"
}

@test "a workflow that is missing, relative or not in API format is a validation error" {
	fake
	echo '{"nodes": [], "links": []}' > ui.json
	{ sub m text2image -p prompt=x -p workflow=nosuch
	  sub r text2image -p prompt=x -p workflow=dir/w.json
	  sub u text2image -p prompt=x -p workflow="$PWD/ui.json"; } | go
	[ "$status" -eq 1 ]
	holds events "all(l['error']['code'] == 'VALIDATION_ERROR' for l in by('failed'))" \
		"len(by('failed')) == 3" \
		"\"no workflow template named 'nosuch'\" in one('failed','m')['error']['message']" \
		"'is relative' in one('failed','r')['error']['message']" \
		"'API' in one('failed','u')['error']['message']"
}

# --- errors -------------------------------------------------------------------

@test "node_errors from /prompt: VALIDATION_ERROR naming the node and its class" {
	fake
	sub ne text2image -p prompt=x -p model=nope | go
	[ "$status" -eq 1 ]
	holds events "one('failed','ne')['error']['code'] == 'VALIDATION_ERROR'" \
		"'node 4 (CheckpointLoaderSimple): Value not in list' in one('failed','ne')['error']['message']" \
		"'Prompt outputs failed validation' in one('failed','ne')['error']['message']" \
		"one('failed','ne')['error']['details']['nodes'][0]['node_id'] == '4'" \
		"one('failed','ne')['error']['details']['nodes'][0]['class_type'] == 'CheckpointLoaderSimple'" \
		"one('failed','ne')['error']['details']['status'] == 400" \
		"'4' in one('failed','ne')['error']['details']['body']['node_errors']"
}

@test "execution_error: PLUGIN_EXECUTION_ERROR with the node and the exception; out of memory is SERVICE_ERROR" {
	fake --fail-node 3
	sub e text2image -p prompt=x -p steps=2 | go
	[ "$status" -eq 1 ]
	holds events "one('failed','e')['error']['code'] == 'PLUGIN_EXECUTION_ERROR'" \
		"one('failed','e')['error']['details']['node_id'] == '3'" \
		"one('failed','e')['error']['details']['node_type'] == 'KSampler'" \
		"'mat1 and mat2' in one('failed','e')['error']['details']['exception_message']" \
		"'node 3 (KSampler)' in one('failed','e')['error']['message']"
	stop_fakes
	fake --fail-node 8 --oom --no-ws
	sub o text2image -p prompt=x -p steps=2 | go
	[ "$status" -eq 1 ]
	holds events "one('failed','o')['error']['code'] == 'SERVICE_ERROR'" \
		"one('failed','o')['error']['details']['node_type'] == 'VAEDecode'" \
		"one('failed','o')['error']['details']['exception_type'] == 'torch.OutOfMemoryError'"
}

@test "a prompt interrupted on the server ends the task as TASK_CANCELLED, over the WebSocket or the history" {
	fake --interrupt-at 2
	sub i text2image -p prompt=x -p steps=5 | go
	[ "$status" -eq 1 ]
	holds events "(by('failed') + by('cancelled'))[0]['error']['code'] == 'TASK_CANCELLED'" \
		"'interrupted on the server at node 3' in (by('failed') + by('cancelled'))[0]['error']['message']"
	stop_fakes
	fake --interrupt-at 2 --no-ws
	sub j text2image -p prompt=x -p steps=5 | go
	[ "$status" -eq 1 ]
	holds events "(by('failed') + by('cancelled'))[0]['error']['code'] == 'TASK_CANCELLED'" \
		"(by('failed') + by('cancelled'))[0]['error']['details']['node_id'] == '3'"
	[ -z "$(find out -type f)" ]
}

@test "429 with Retry-After on /prompt is waited out, then the prompt runs" {
	fake $(faults '[{"path": "^/prompt$", "status": 429, "headers": {"Retry-After": "1"}, "body": {"error": "queue full"}}]')
	sub r text2image -p prompt=x -p width=64 -p height=64 -p steps=1 | go
	[ "$status" -eq 0 ]
	[ -s out/r/image_00001_.png ]
	holds "$FAKE_LOG" "len(req('POST', '/prompt')) == 2" \
		"req('POST', '/prompt')[1]['t'] - req('POST', '/prompt')[0]['t'] >= 0.9"
	holds events "any('retry 1' in p['message'] for p in ev('progress','r'))"
}

@test "429 that does not end is RATE_LIMIT_EXCEEDED with the attempts" {
	fake $(faults '[{"path": "^/prompt$", "status": 429, "headers": {"Retry-After": "0"}, "times": -1}]')
	config 'retries: 2'
	sub r text2image -p prompt=x | go
	[ "$status" -eq 1 ]
	holds events "one('failed','r')['error']['code'] == 'RATE_LIMIT_EXCEEDED'" \
		"one('failed','r')['error']['details']['attempts'] == 3"
}

@test "a 503 then success; a 500 is not retried and is SERVICE_ERROR with the body" {
	fake $(faults '[{"path": "^/prompt$", "status": 503, "body": {"error": "restarting"}},
			{"path": "^/upload/image$", "status": 500, "raw": "Internal Server Error", "type": "text/plain"}]')
	png_of in.png 32 32
	{ sub ok text2image -p prompt=x -p width=64 -p height=64 -p steps=1
	  sub bad image2image -p prompt=x -r in.png; } | go
	[ "$status" -eq 1 ]
	[ -s out/ok/image_00001_.png ]
	holds events "one('completed','ok')['status'] == 'success'" \
		"one('failed','bad')['error']['code'] == 'SERVICE_ERROR'" \
		"one('failed','bad')['error']['details']['status'] == 500" \
		"one('failed','bad')['error']['details']['body'] == 'Internal Server Error'"
	holds "$FAKE_LOG" "len(req('POST', '/prompt')) == 2" "len(req('POST', '/upload/image')) == 1"
}

@test "a server that never answers is TIMEOUT_ERROR; a prompt that never ends is interrupted" {
	fake $(faults '[{"path": "^/prompt$", "delay": 4}]')
	config 'timeout: 1'
	sub slow text2image -p prompt=x | go
	[ "$status" -eq 1 ]
	holds events "one('failed','slow')['error']['code'] == 'TIMEOUT_ERROR'"
	stop_fakes
	fake --hang
	config 'generation_timeout: 1'
	sub hang text2image -p prompt=x -p steps=3 | go
	[ "$status" -eq 1 ]
	holds events "one('failed','hang')['error']['code'] == 'TIMEOUT_ERROR'" \
		"'interrupted' in one('failed','hang')['error']['message']"
	holds "$FAKE_LOG" "len(fake('interrupt')) == 1" \
		"fake('interrupt')[0]['body']['prompt_id'] == fake('queued')[0]['prompt_id']"
}

@test "an endpoint where nothing listens is SERVICE_ERROR naming it" {
	mkdir -p "$XDG_CONFIG_HOME/filmeto"
	printf 'plugins:\n  comfyui:\n    endpoint: http://127.0.0.1:9\n    retries: 0\n' > "$XDG_CONFIG_HOME/filmeto/config.yaml"
	sub d text2image -p prompt=x | go
	[ "$status" -eq 1 ]
	holds events "one('failed','d')['error']['code'] == 'SERVICE_ERROR'" \
		"'127.0.0.1:9' in one('failed','d')['error']['message']"
}

# --- malformed replies --------------------------------------------------------

@test "when the second of two outputs fails, the first is not left behind" {
	fake $(faults '[{"path": "^/view$", "delay": 0.01}, {"path": "^/view$", "status": 404, "raw": "404: Not Found", "type": "text/plain"}]')
	python3 - "$ROOT/share/filmeto/workflows/text2image.json" <<-'PY' > two.json
	import json, sys
	g = json.load(open(sys.argv[1]))
	g["5"]["inputs"]["batch_size"] = 2
	print(json.dumps(g))
	PY
	sub two text2image -p prompt=x -p steps=1 -p workflow="$PWD/two.json" | go
	[ "$status" -eq 1 ]
	holds events "one('failed','two')['error']['code'] == 'RESOURCE_PROCESSING_ERROR'" \
		"'image_00002_.png' in one('failed','two')['error']['message']"
	holds "$FAKE_LOG" "len(req('GET', '/view')) == 2"
	[ -z "$(find out -type f)" ]
}

@test "truncated JSON or HTML from /prompt is SERVICE_ERROR saying what came" {
	fake $(faults '[{"path": "^/prompt$", "status": 200, "raw": "{\"prompt_id\": \"ab", "type": "application/json"},
			{"path": "^/prompt$", "status": 200, "raw": "<html><body>Login</body></html>", "type": "text/html"},
			{"path": "^/prompt$", "status": 200, "body": {"number": 1}}]')
	# One at a time: the faults answer requests in order.
	{ sub t text2image -p prompt=x; sub h text2image -p prompt=x; sub n text2image -p prompt=x; } | go -j 1
	[ "$status" -eq 1 ]
	holds events "one('failed','t')['error']['code'] == 'SERVICE_ERROR'" \
		"'not JSON' in one('failed','t')['error']['message']" \
		"one('failed','h')['error']['code'] == 'SERVICE_ERROR'" \
		"one('failed','h')['error']['details']['content_type'] == 'text/html'" \
		"one('failed','n')['error']['code'] == 'SERVICE_ERROR'" \
		"'without a prompt_id' in one('failed','n')['error']['message']"
}

@test "an output that 404s is RESOURCE_PROCESSING_ERROR; an HTML page instead of the image is refused" {
	fake $(faults '[{"path": "^/view$", "status": 404, "raw": "404: Not Found", "type": "text/plain"},
			{"path": "^/view$", "status": 200, "raw": "<html>oops</html>", "type": "text/html"}]')
	{ sub a text2image -p prompt=x -p steps=1; sub b text2image -p prompt=x -p steps=1; } | go -j 1
	[ "$status" -eq 1 ]
	holds events "one('failed','a')['error']['code'] == 'RESOURCE_PROCESSING_ERROR'" \
		"'image_00001_.png' in one('failed','a')['error']['message']" \
		"one('failed','b')['error']['code'] == 'SERVICE_ERROR'" \
		"'text/html' in one('failed','b')['error']['message']"
	[ -z "$(find out -type f)" ]
}

# --- cancel -------------------------------------------------------------------

@test "a cancel mid-generation interrupts the prompt on the server; nothing is left behind" {
	private workflows
	fake --step-delay 0.1
	mkfifo in
	filmeto-run -d out < in > events 2> errlog &
	pid=$!
	exec {feed}> in
	sub c text2image -p prompt=x -p steps=200 >&"$feed"
	for _ in $(seq 100); do grep -q ': 2 of 200' events && break; sleep 0.05; done
	echo '{"type":"cancel","task_id":"c"}' >&"$feed"
	exec {feed}>&-
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq 1 ]
	holds events "one('cancelled','c')['error']['code'] == 'TASK_CANCELLED'" "len(by('completed')) == 0"
	holds "$FAKE_LOG" "len(fake('interrupt')) == 1" \
		"fake('interrupt')[0]['body']['prompt_id'] == fake('queued')[0]['prompt_id']"
	[ "$(plugin_procs)" -eq 0 ]
	[ -z "$(ls -A out/c 2>/dev/null)" ]
}

@test "SIGINT during generation: status 130 at once, the prompt interrupted" {
	private workflows
	fake --step-delay 0.1
	mkfifo in
	filmeto-run -d out < in > events 2> errlog &
	pid=$!
	exec {feed}> in
	sub s text2image -p prompt=x -p steps=200 >&"$feed"
	for _ in $(seq 100); do grep -q ': 2 of 200' events && break; sleep 0.05; done
	start=$(date +%s)
	kill -INT "$pid"
	status=0
	wait "$pid" || status=$?
	exec {feed}>&-
	[ "$status" -eq 130 ]
	[ $(( $(date +%s) - start )) -lt 3 ]
	holds events "one('cancelled','s')['error']['code'] == 'TASK_CANCELLED'"
	holds "$FAKE_LOG" "len(fake('interrupt')) == 1"
	[ "$(plugin_procs)" -eq 0 ]
	[ -z "$(ls -A out/s 2>/dev/null)" ]
}

# --- settings -----------------------------------------------------------------

@test "endpoint: parameter over COMFYUI_URL over config.yaml" {
	# Two fakes, each with its own log (a later --log wins).
	ALOG=$BATS_TEST_TMPDIR/a.log BLOG=$BATS_TEST_TMPDIR/b.log
	start_fake comfyui --log "$ALOG"
	A=$FAKE_URL
	start_fake comfyui --log "$BLOG"
	B=$FAKE_URL
	dead=http://127.0.0.1:9
	FAKE_URL=$A config 'retries: 0'
	sub c1 text2image -p prompt=x -p steps=1 | go
	[ "$status" -eq 0 ]
	COMFYUI_URL=$B sub e1 text2image -p prompt=x -p steps=1 | COMFYUI_URL=$B go
	[ "$status" -eq 0 ]
	sub p1 text2image -p prompt=x -p steps=1 -p endpoint="$A" | COMFYUI_URL=$dead go
	[ "$status" -eq 0 ]
	FAKE_URL=$dead config 'retries: 0'
	sub p2 text2image -p prompt=x -p steps=1 -p endpoint="$B" | COMFYUI_URL=$dead go
	[ "$status" -eq 0 ]
	[ "$(grep -c '"fake": "prompt"' "$ALOG")" -eq 2 ]
	[ "$(grep -c '"fake": "prompt"' "$BLOG")" -eq 2 ]
	# A 2nd task in one process goes wherever its own settings say.
	{ sub q1 text2image -p prompt=x -p steps=1 -p endpoint="$A"
	  sub q2 text2image -p prompt=x -p steps=1 -p endpoint="$B"; } | go
	[ "$status" -eq 0 ]
	[ "$(grep -c '"fake": "prompt"' "$ALOG")" -eq 3 ]
	[ "$(grep -c '"fake": "prompt"' "$BLOG")" -eq 3 ]
}

@test "the manifest reads COMFYUI_URL and FILMETO_DOWNLOAD_MAX alone and is remote" {
	run filmeto-plugin info comfyui --json
	[ "$status" -eq 0 ]
	echo "$output" > info.json
	python3 - <<-'PY'
	import json
	m = json.load(open("info.json"))
	assert m["env"] == ["COMFYUI_URL", "FILMETO_DOWNLOAD_MAX"], m["env"]
	assert m["remote"] is True
	tools = {t["name"]: t for t in m["tools"]}
	assert set(tools) == {"text2image", "image2image", "image2video", "text2video"}
	for t in tools.values():
	    p = {x["name"]: x for x in t["parameters"]}
	    for name in ("endpoint", "model", "workflow", "seed"):
	        assert name in p and "default" not in p[name], (t["name"], name)
	        assert p[name].get("description"), (t["name"], name)
	PY
}
