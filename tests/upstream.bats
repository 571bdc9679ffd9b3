#!/usr/bin/env bats
# What the Filmeto project's own host gives a plugin, and what its plugins
# do with it (issue 16): configuration only from metadata.server_config
# (its secrets kept to the plugin), inputs only from processed_resources
# or input_image_path, outputs written into a folder of the plugin's own
# and named by absolute paths. The plugins are tests/upstream/*, kept off
# the usual plugin path so they become no tool's default elsewhere.

load test_helper

KEY=sk-upstream-SECRET-4711-abcdef
TOKEN=tok-nested-SECRET-0815-xyz

setup() {
	common_setup
	private_plugins "$ROOT/tests/upstream"
	mkdir -p "$XDG_CONFIG_HOME/filmeto"
}

# conf: config.yaml with the srvconfig plugin's server_config.
conf() {
	cat > "$XDG_CONFIG_HOME/filmeto/config.yaml" <<-EOF2
	plugins:
	  srvconfig:
	    server_url: http://127.0.0.1:9
	    api_key: $KEY
	    auth: {token: $TOKEN}
	EOF2
}

# --- metadata.server_config and the secrets in it ------------------------

@test "server_config: a plugin that reads only metadata.server_config gets config.yaml's section, with workspace_path and server_name" {
	conf
	filmeto-submit -t text2image -P srvconfig -i c > task
	run --separate-stderr timeout 30 filmeto-run -d out task
	[ "$status" -eq 0 ]
	[ "$(jfile out/c/config.json 'd["server_url"]')" = http://127.0.0.1:9 ]
	[ "$(jfile out/c/config.json 'd["key_length"]')" = "${#KEY}" ]
	[ "$(jfile out/c/config.json 'd["key_sha256"]')" = "$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)" ]
	[ "$(jfile out/c/config.json 'd["nested_token_length"]')" = "${#TOKEN}" ]
	[ "$(jfile out/c/config.json 'd["server_name"]')" = srvconfig ]
	[ "$(jfile out/c/config.json 'd["top_server_name"]')" = srvconfig ]
	[ "$(jfile out/c/config.json 'd["workspace_path"]')" = "$BATS_TEST_TMPDIR/out/c" ]
}

@test "server_config: with no section in config.yaml it is an empty mapping" {
	filmeto-submit -t text2image -P srvconfig -i c > task
	run --separate-stderr timeout 30 filmeto-run -d out task
	[ "$status" -eq 0 ]
	[ "$(jfile out/c/config.json 'd["key_length"]')" = 0 ]
	[ "$(jfile out/c/config.json 'd["server_url"]')" = "" ]
}

@test "server_config: a plugins.NAME that is not a mapping is an error naming the plugin and the field" {
	filmeto-submit -t text2image -P srvconfig -i c > task
	for bad in just-a-string '[a, b]' 42; do
		printf 'plugins:\n  srvconfig: %s\n' "$bad" > "$XDG_CONFIG_HOME/filmeto/config.yaml"
		run --separate-stderr timeout 30 filmeto-run -d out task
		[ "$status" -ne 0 ]
		[[ "$stderr" == *"config.yaml:"*": plugins.srvconfig must be a mapping of settings"* ]]
		[ ! -e out/c ]
	done
}

@test "server_config secrets reach the plugin and nothing else: events, stderr, spool, cache" {
	conf
	export FILMETO_SPOOL="$BATS_TEST_TMPDIR/spool"
	filmeto-submit -t text2image -P srvconfig -i c > task
	run --separate-stderr timeout 30 filmeto-run -d out task
	[ "$status" -eq 0 ]
	echo "$output" > events
	# The plugin echoed the key in progress, stderr, a stray line and its metadata.
	[ "$(final c '["metadata"]["echo"]')" = "[redacted]" ]
	[[ "$stderr" == *"using api key [redacted]"* ]] || [[ "$output" == *"using api key [redacted]"* ]]
	# Through the spool too, its logs and its out/.
	filmeto-submit --queue -t text2image -P srvconfig -i s >/dev/null
	run --separate-stderr timeout 30 filmeto-run --spool --drain
	[ "$status" -eq 0 ]
	[ "$(jfile "$FILMETO_SPOOL/out/s/config.json" 'd["key_length"]')" = "${#KEY}" ]
	for secret in "$KEY" "$TOKEN"; do
		! grep -rqF -- "$secret" events "$FILMETO_SPOOL" "$XDG_CACHE_HOME" "$XDG_STATE_HOME" out
		[[ "$output$stderr" != *"$secret"* ]]
	done
	! grep -rqF "$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)" "$XDG_CACHE_HOME"/filmeto/*/*.json 2>/dev/null
}

@test "server_config secrets are no part of the cache key; its other settings are" {
	conf
	filmeto-submit -t text2image -P srvconfig -i c > task
	filmeto-run -d out task > events
	[ "$(final c '["metadata"].get("cached", False)')" = false ]
	# Another key: the same output, from the cache.
	sed -i "s/$KEY/sk-another-SECRET-2222-qqq/" "$XDG_CONFIG_HOME/filmeto/config.yaml"
	filmeto-run -d out2 task > events
	[ "$(final c '["metadata"].get("cached", False)')" = true ]
	# Another server: another output.
	sed -i 's/127.0.0.1:9/127.0.0.1:10/' "$XDG_CONFIG_HOME/filmeto/config.yaml"
	filmeto-run -d out3 task > events
	[ "$(final c '["metadata"].get("cached", False)')" = false ]
}

# --- processed_resources and input_image_path ----------------------------

# after ID TOOL FROM [PARAMS]: a procres task line on task FROM's output.
after() {
	printf '{"type":"task","task_id":"%s","tool_name":"%s","plugin_name":"procres","parameters":{%s},"resources":[{"type":"task_output","data":"%s"}]}\n' \
		"$1" "$2" "${4:-}" "$3"
}

@test "processed_resources: image2image gets a previous task's output, localized, in metadata and parameters" {
	printf 'PNG-ish bytes\n' > in.png
	{
		filmeto-submit -t image2image -P procres -r in.png -i first
		after second image2image first
		after third image2image first '"where":"parameters"'
	} > tasks
	# No cache: the same input to the same tool would be answered from it.
	run --separate-stderr timeout 30 filmeto-run --no-cache -d out tasks
	[ "$status" -eq 0 ]
	echo "$output" > events
	[ "$(final first '["metadata"]["input"]')" = "$BATS_TEST_TMPDIR/in.png" ]
	[ "$(final second '["metadata"]["input"]')" = "$BATS_TEST_TMPDIR/out/first/result.png" ]
	[ "$(final second '["metadata"]["found_in"]')" = metadata ]
	[ "$(final third '["metadata"]["found_in"]')" = parameters ]
	cmp in.png out/second/result.png
	cmp in.png out/third/result.png
}

@test "input_image_path: -p takes a local file, made absolute, cached by its content" {
	printf 'one\n' > a.png
	filmeto-submit -t image2video -P procres -p input_image_path=a.png -i v > task
	[ "$(jfile task 'd["parameters"]["input_image_path"]')" = "$BATS_TEST_TMPDIR/a.png" ]
	filmeto-run -d out task > events
	cmp a.png out/v/result.png
	filmeto-run -d out2 task > events
	[ "$(final v '["metadata"].get("cached", False)')" = true ]
	printf 'two\n' > a.png
	filmeto-run -d out3 task > events
	[ "$(final v '["metadata"].get("cached", False)')" = false ]
	cmp a.png out3/v/result.png
}

@test "input_image_path: a required one is filled from the task's first image resource" {
	printf 'img\n' > b.png
	{
		filmeto-submit -t image2image -P procres -r b.png -i pic
		after vid image2video pic
	} > tasks
	# Submit takes it so too.
	filmeto-submit --json tasks --dry-run
	run --separate-stderr timeout 30 filmeto-run --no-cache -d out tasks
	[ "$status" -eq 0 ]
	echo "$output" > events
	[ "$(final vid '["metadata"]["input"]')" = "$BATS_TEST_TMPDIR/out/pic/result.png" ]
	cmp b.png out/vid/result.png
	# Without any input it is still required.
	run --separate-stderr filmeto-submit -t image2video -P procres -i none
	[ "$status" -eq 2 ]
	[[ "$stderr" == *input_image_path*required* ]]
}

# --- outputs in a folder of the plugin's own -----------------------------

@test "outputs in a mkdtemp folder are moved into the task's folder; the final line names them" {
	export TMPDIR="$BATS_TEST_TMPDIR/tmp"
	mkdir -p "$TMPDIR"
	filmeto-submit -t text2video -P ownout -p mode=tmp -i t > task
	run --separate-stderr timeout 30 filmeto-run -d out task
	[ "$status" -eq 0 ]
	echo "$output" > events
	[ "$(final t '["output_files"]')" = "[\"$BATS_TEST_TMPDIR/out/t/clip.mp4\"]" ]
	[ "$(final t '["output_resources"][0]["path"]')" = "$BATS_TEST_TMPDIR/out/t/clip.mp4" ]
	[ -z "$(find "$TMPDIR" -type f)" ]
	[ -s out/t/clip.mp4 ]
	# The cache holds it and a rerun gets it back into its own folder.
	filmeto-run -d again task > events
	[ "$(final t '["metadata"]["cached"]')" = true ]
	cmp out/t/clip.mp4 again/t/clip.mp4
}

@test "outputs under the plugin's own outputs/ are moved in; two of one name get two names" {
	export TMPDIR="$BATS_TEST_TMPDIR/tmp"
	mkdir -p "$TMPDIR"
	filmeto-submit -t text2video -P ownout -p mode=clash -i k > task
	run --separate-stderr timeout 30 filmeto-run -d out task
	[ "$status" -eq 0 ]
	echo "$output" > events
	[ "$(final k '["output_files"]')" = "[\"$BATS_TEST_TMPDIR/out/k/clip.mp4\", \"$BATS_TEST_TMPDIR/out/k/clip-1.mp4\"]" ]
	[ -z "$(ls -A "$BATS_TEST_TMPDIR/plugins/ownout/outputs")" ]
	[ "$(head -c 5 out/k/clip-1.mp4)" = "$(head -c 5 <<<"$BATS_TEST_TMPDIR/plugins/ownout/outputs")" ]
}

# bad MODE MESSAGE [ENV...]: the task fails with MESSAGE and hands out nothing.
bad() {
	filmeto-submit -t text2video -P ownout -p mode="$1" -i b > task
	run --separate-stderr env "${@:3}" timeout 30 filmeto-run -d out task
	echo "$output" > events
	[ "$status" -eq 1 ]
	[ "$(final b '["error"]["code"]')" = PLUGIN_EXECUTION_ERROR ]
	[[ "$(final b '["error"]["message"]')" == "plugin 'ownout' named output '"*"(output_files[0]), which $2"* ]]
	[ "$(final b '["output_files"]')" = "[]" ]
	[ -z "$(find "$XDG_CACHE_HOME" -type f 2>/dev/null)" ]
}

@test "an output outside that is a FIFO is refused" {
	bad fifo "is a FIFO, not a regular file"
}

@test "an output outside that is a device is refused" {
	bad device "is a character device, not a regular file"
}

@test "an output outside that is a symlink to a FIFO is refused, never opened" {
	bad linkfifo "is a symbolic link, not a regular file"
}

@test "an output outside that is a directory or missing is refused" {
	bad directory "is a directory, not a regular file"
	bad missing "does not exist"
}

@test "an output outside over the download limit is refused" {
	filmeto-submit -t text2video -P ownout -p mode=big -p size=5000 -i b > task
	FILMETO_DOWNLOAD_MAX=4096 run --separate-stderr timeout 30 filmeto-run -d out task
	echo "$output" > events
	[ "$status" -eq 1 ]
	[[ "$(final b '["error"]["message"]')" == *"(output_files[0]), of 5000 bytes, over the limit of 4096 (FILMETO_DOWNLOAD_MAX)"* ]]
	[ ! -e out/b/clip.mp4 ]
}
