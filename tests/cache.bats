#!/usr/bin/env bats
# What the caches hand out is the task's own copy: a plugin that writes
# to its input, or a later task that writes to an earlier one's output,
# changes nothing the cache gives another task or a later run. The
# plugin is tests/plugins/tamper; downloads come from tests/fakes/httpd.py
# over loopback.

load test_helper

setup() {
	common_setup
	private_plugins
}

teardown() {
	stop_fakes
}

# tamper ID TEXT APPEND [more members]: a task line for the tamper plugin.
tamper() {
	printf '{"type":"task","task_id":"%s","tool_name":"tamper","plugin_name":"tamper","parameters":{"text":"%s","append":"%s"}%s}\n' \
		"$1" "$2" "$3" "${4:-}"
}

@test "a plugin that writes to its downloaded input changes no later task's download" {
	mkdir www
	printf '\x89PNG clean bytes' > www/pic.png
	serve www
	res=",\"resources\":[{\"type\":\"remote_url\",\"data\":\"$URL/pic.png\"}]"
	tamper first one POISONED "$res" | filmeto-run -d out > events
	[ "$(final first '["type"]')" = completed ]
	cmp out/first/in-0.bin <(printf '\x89PNG clean bytesPOISONED')
	# The second task is given the download from the cache, as it was fetched.
	tamper second two "" "$res" | filmeto-run -d out > events
	[ "$(final second '["type"]')" = completed ]
	[ "$(grep -c pic.png www/requests.log)" -eq 1 ]
	cmp out/second/in-0.bin www/pic.png
	# Each wrote to its own copy, not to the cache's through a hard link.
	cmp "$(find "$XDG_CACHE_HOME/filmeto/downloads" -name '*.png')" www/pic.png
	[ "$(stat -c %h out/first/input-0.png)" -eq 1 ]
	[ "$(stat -c %h out/second/input-0.png)" -eq 1 ]
}

@test "a task that writes to a cached task's output changes no later answer from the cache" {
	tamper ca CLEAN "" > ca
	filmeto-run -d c1 ca > events
	[ "$(final ca '["metadata"].get("cached")')" = null ]
	# ca answered from the cache, then cb appends to the file ca handed it.
	{ cat ca; tamper cb downstream 'POISON\n' ',"resources":[{"type":"task_output","data":"ca#0"}]'; } > both
	filmeto-run -d c2 both > events
	[ "$(final ca '["metadata"]["cached"]')" = true ]
	[ "$(final cb '["type"]')" = completed ]
	[ "$(cat c2/cb/in-0.bin)" = "$(printf 'CLEAN\nPOISON')" ]
	# A later cached ca is as clean as the first.
	filmeto-run -d c3 ca > events
	[ "$(final ca '["metadata"]["cached"]')" = true ]
	[ "$(cat c3/ca/out.txt)" = CLEAN ]
	[ "$(stat -c %h c2/ca/out.txt)" -eq 1 ]
}

@test "every file the output cache hands out is a copy: no inode shared with the entry" {
	tamper ca CLEAN "" > ca
	filmeto-run -d c1 ca > events
	filmeto-run -d c2 ca > events
	[ "$(final ca '["metadata"]["cached"]')" = true ]
	for f in "$XDG_CACHE_HOME"/filmeto/outputs/*/*/*-out.txt; do
		[ "$(stat -c %h "$f")" -eq 1 ]
		[ "$(stat -c %i "$f")" != "$(stat -c %i c2/ca/out.txt)" ]
	done
	[ "$(stat -c %h c2/ca/out.txt)" -eq 1 ]
}
