#!/usr/bin/env bats
# What the remote plugins share: used only when named, settings from
# config.yaml, and (with every fake service at once) a film rendered
# against them and no key anywhere in what filmeto writes.

load test_helper

setup() {
	common_setup
}

teardown() {
	stop_fakes
}

# A copy of the fakemedia test plugin named NAME that says remote: true.
remote_copy() {
	private_plugins
	mkdir -p "$BATS_TEST_TMPDIR/plugins/$1"
	sed -e "s/^name: fakemedia/name: $1/" -e '$a remote: true' \
		"$ROOT/tests/plugins/fakemedia/plugin.yaml" >"$BATS_TEST_TMPDIR/plugins/$1/plugin.yaml"
}

@test "a remote plugin is used only when it is named" {
	remote_copy aaremote
	run filmeto-plugin info aaremote --json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | python3 -c 'import json,sys; print(json.load(sys.stdin)["remote"])')" = True ]

	# First on the path, but remote: the offline plugin serves the tool.
	run filmeto-submit -t text2speak -p text=hi
	[ "$status" -eq 0 ]
	[[ "$output" == *'"plugin_name":"fakemedia"'* ]]

	run filmeto-submit -t text2speak -P aaremote -p text=hi
	[ "$status" -eq 0 ]
	[[ "$output" == *'"plugin_name":"aaremote"'* ]]

	mkdir -p "$XDG_CONFIG_HOME/filmeto"
	printf 'defaults:\n  text2speak: aaremote\n' >"$XDG_CONFIG_HOME/filmeto/config.yaml"
	run filmeto-submit -t text2speak -p text=hi
	[ "$status" -eq 0 ]
	[[ "$output" == *'"plugin_name":"aaremote"'* ]]
}

@test "a tool only remote plugins serve names them in the error" {
	remote_copy aaremote
	sed -i -e '/^tools:/,/^[a-z]/{/name: text2speak/s/text2speak/text2video/}' \
		"$BATS_TEST_TMPDIR/plugins/aaremote/plugin.yaml"
	run filmeto-submit -t text2video -p text=hi
	[ "$status" -eq 2 ]
	[[ "$output" == *"no offline plugin serves tool 'text2video'; name a remote one that does: "*aaremote* ]]
}

@test "remote: must be a boolean" {
	remote_copy aaremote
	sed -i 's/^remote: true/remote: sometimes/' "$BATS_TEST_TMPDIR/plugins/aaremote/plugin.yaml"
	run filmeto-plugin validate "$BATS_TEST_TMPDIR/plugins/aaremote"
	[ "$status" -ne 0 ]
	[[ "$output" == *"remote: must be true or false"* ]]
}

@test "plugins.NAME in config.yaml reaches the plugin as settings and keys the cache" {
	private_plugins
	mkdir -p "$XDG_CONFIG_HOME/filmeto"
	printf 'plugins:\n  pyfilmeto:\n    endpoint: http://127.0.0.1:1/v1\n    model: m1\n' \
		>"$XDG_CONFIG_HOME/filmeto/config.yaml"
	filmeto-submit -t text2text -P pyfilmeto -p text=hello --id t1 >task.ndjson
	run filmeto-run -d out <task.ndjson
	[ "$status" -eq 0 ]
	[ "$(jget <(echo "$output") 'by("completed")[0]["metadata"].get("cached", False)')" = false ]
	run filmeto-run -d out <task.ndjson
	[ "$(jget <(echo "$output") 'by("completed")[0]["metadata"].get("cached", False)')" = true ]
	# Another model in the settings is another output.
	sed -i 's/model: m1/model: m2/' "$XDG_CONFIG_HOME/filmeto/config.yaml"
	run filmeto-run -d out <task.ndjson
	[ "$(jget <(echo "$output") 'by("completed")[0]["metadata"].get("cached", False)')" = false ]

	printf 'plugins:\n  pyfilmeto: [not, a, mapping]\n' >"$XDG_CONFIG_HOME/filmeto/config.yaml"
	run filmeto-run -d out <task.ndjson
	[ "$status" -ne 0 ]
	[[ "$output" == *"config.yaml:2: plugins.pyfilmeto must be a mapping of settings"* ]]
}
