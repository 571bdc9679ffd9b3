#!/usr/bin/env bats
# Python plugins as the Filmeto project writes them: which interpreter
# runs one (its .venv, config.yaml's python:, python3 on PATH), the
# requirements: it declares, filmeto-plugin doctor, and an install that
# builds a --system-site-packages venv and keeps the upstream package
# import (from server.plugins.base_plugin import ...) working.

load test_helper

TREE="$ROOT/tests/fixtures/upstream_tree"

setup() {
	common_setup
	PLUGINS="$XDG_DATA_HOME/filmeto/plugins"
	export FILMETO_CONFIG="$BATS_TEST_TMPDIR/config.yaml"
	: > "$FILMETO_CONFIG"
	# pip never reaches out: what is needed, Debian's python3 already has.
	export PIP_NO_INDEX=1
	PY=$(command -v python3)
}

# upkg_runs PATH-OF-PLUGINS ID: a task through upkg; out/ID/out.txt has
# its text, the base class's mark and sys.executable.
upkg_runs() {
	FILMETO_PLUGIN_PATH="$1" filmeto-submit -t text2text -P upkg -p text=hello -i "$2" |
		FILMETO_PLUGIN_PATH="$1" filmeto-run --no-cache -d out > "events-$2"
	[ "$(jget "events-$2" 'by("completed")[0]["status"]')" = success ]
	[ "$(sed -n 1p "out/$2/out.txt")" = hello ]
	[ "$(sed -n 2p "out/$2/out.txt")" = base-from-server.plugins ]
}

# An interpreter of another name: sys.executable shows which one ran.
alt_python() { # NAME
	mkdir -p "$BATS_TEST_TMPDIR/alt"
	ln -sf /usr/bin/python3 "$BATS_TEST_TMPDIR/alt/$1"
	echo "$BATS_TEST_TMPDIR/alt/$1"
}

@test "the interpreter: python3 on PATH, then config python:, plugins.NAME.python, then .venv" {
	upkg_runs "$TREE/server/plugins" a
	[ "$(sed -n 3p out/a/out.txt)" = "$PY" ]
	top=$(alt_python top-python)
	printf 'python: %s\n' "$top" > "$FILMETO_CONFIG"
	upkg_runs "$TREE/server/plugins" b
	[ "$(sed -n 3p out/b/out.txt)" = "$top" ]
	own=$(alt_python own-python)
	printf 'python: %s\nplugins:\n  upkg:\n    python: %s\n' "$top" "$own" > "$FILMETO_CONFIG"
	upkg_runs "$TREE/server/plugins" c
	[ "$(sed -n 3p out/c/out.txt)" = "$own" ]
	run filmeto-plugin doctor "$TREE/server/plugins/upkg"
	[[ "$output" == *"interpreter: $own (config python: ($FILMETO_CONFIG, plugins.upkg.python))"* ]]
	# The plugin's own .venv comes first.
	cp -R "$TREE" tree
	/usr/bin/python3 -m venv --without-pip --system-site-packages tree/server/plugins/upkg/.venv
	upkg_runs "$BATS_TEST_TMPDIR/tree/server/plugins" d
	[ "$(sed -n 3p out/d/out.txt)" = "$BATS_TEST_TMPDIR/tree/server/plugins/upkg/.venv/bin/python3" ]
	run filmeto-plugin test "$BATS_TEST_TMPDIR/tree/server/plugins/upkg"
	[ "$status" -eq 0 ]
	[[ "$output" == *"interpreter: $BATS_TEST_TMPDIR/tree/server/plugins/upkg/.venv/bin/python3 (.venv)"* ]]
}

@test "a config python: that is not a string or not an executable file is a clear error" {
	printf 'plugins:\n  upkg:\n    python: [1]\n' > "$FILMETO_CONFIG"
	run filmeto-plugin doctor "$TREE/server/plugins/upkg"
	[ "$status" -eq 2 ]
	[[ "$output" == *"$FILMETO_CONFIG:3: plugins.upkg.python: must be the path of a Python interpreter (a string)"* ]]
	printf 'python: %s\n' "$BATS_TEST_TMPDIR/no-such-python" > "$FILMETO_CONFIG"
	run filmeto-plugin doctor "$TREE/server/plugins/upkg"
	[ "$status" -eq 2 ]
	[[ "$output" == *"$FILMETO_CONFIG: python: '$BATS_TEST_TMPDIR/no-such-python' is not an executable file"* ]]
	# filmeto-run says the same and runs nothing.
	FILMETO_PLUGIN_PATH="$TREE/server/plugins" filmeto-submit -t text2text -P upkg -p text=x -i t |
		FILMETO_PLUGIN_PATH="$TREE/server/plugins" filmeto-run -d out > events || true
	[[ "$(cat events)" == *"python: '$BATS_TEST_TMPDIR/no-such-python' is not an executable file"* ]]
}

@test "requirements: that is not a mapping with a list of strings is refused, naming the field" {
	bad() { # YAML TEXT
		rm -rf p && mkdir p
		printf 'name: p\ntools: [text2text]\n%s\n' "$1" > p/plugin.yml
		run filmeto-plugin validate p
		echo "$output"
		[ "$status" -eq 2 ]
		[[ "$output" == *"p/plugin.yml"*"$2"* ]]
	}
	bad 'requirements: [pillow]' "requirements: must be a mapping"
	bad 'requirements: {packages: pillow}' "requirements.packages: must be a list of strings"
	bad 'requirements: {packages: [pillow, 3]}' "requirements.packages: must be a list of strings; item 2 is not a string"
	bad 'requirements: {packages: [pillow, {a: 1}]}' "item 2 is not a string"
	bad 'requirements: {packages: ["--index-url=http://127.0.0.1:9/"]}' "item 1 is not a package requirement"
	bad 'requirements: {python: [3]}' "requirements.python: must be a version constraint"
	printf 'name: p\ntools: [text2text]\nrequirements: {python: ">=3.9", packages: [pillow>=9]}\n' > p/plugin.yml
	run filmeto-plugin validate p
	[ "$status" -eq 0 ]
}

@test "doctor: the interpreter and why, its version, each package; status 1 for a missing one" {
	run filmeto-plugin doctor "$TREE/server/plugins/upkg"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"interpreter: $PY (python3 on PATH)"* ]]
	[[ "$output" == *"version: Python 3."* ]]
	[[ "$output" == *"requirements.python: >=3.8: ok"* ]]
	[[ "$output" == *"package pillow>=5.0: ok (pillow "* ]]
	# requirements.txt's Pillow>=5.0 is the same requirement: listed once
	[ "$(grep -ci 'package pillow' <<< "$output")" = 1 ]
	cp -R "$TREE/server/plugins/upkg" lacking
	sed -i 's/^name: upkg$/name: lacking/; s/^    - pillow>=5.0$/&\n    - filmeto-no-such-package-xyz\n    - pillow>=999/' lacking/plugin.yml
	printf 'requests\n# a comment\n--no-index\n./local.whl\n\n' >> lacking/requirements.txt
	run filmeto-plugin doctor lacking
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"package filmeto-no-such-package-xyz: MISSING"* ]]
	[[ "$output" == *"package pillow>=999: TOO OLD OR TOO NEW (pillow "* ]]
	[[ "$output" == *"package requests: ok"* ]]
	[[ "$output" != *"local.whl"* && "$output" != *"no-index"* ]]
	# Not a Python plugin: nothing to check.
	run filmeto-plugin doctor noop
	[ "$status" -eq 0 ]
	[[ "$output" == *"not a Python plugin"* ]]
	run filmeto-plugin doctor no-such-plugin
	[ "$status" -eq 1 ]
	run filmeto-plugin doctor
	[ "$status" -eq 2 ]
}

@test "doctor's interpreter gets no secret variables" {
	cat > spy <<EOF
#!/bin/sh
env > "$BATS_TEST_TMPDIR/spy-env"
exec /usr/bin/python3 "\$@"
EOF
	chmod +x spy
	printf 'python: %s\n' "$BATS_TEST_TMPDIR/spy" > "$FILMETO_CONFIG"
	FILMETO_TEST_API_KEY=sekrit FILMETO_SEEN=visible run filmeto-plugin doctor "$TREE/server/plugins/upkg"
	[ "$status" -eq 0 ]
	grep -qx 'FILMETO_SEEN=visible' spy-env
	! grep -q sekrit spy-env
}

@test "install: a --system-site-packages venv for a plugin with no runtime:, requirements met offline" {
	run filmeto-plugin install "$TREE/server/plugins/upkg"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"-I -m venv --system-site-packages .venv' (python3 on PATH)"* ]]
	[[ "$output" == *"pip install -r requirements.txt (and requirements: packages:)"* ]]
	grep -qx 'include-system-site-packages = true' "$PLUGINS/upkg/.venv/pyvenv.cfg"
	# Only the package files main.py imports came with it, under their package path.
	[ "$(cd "$PLUGINS/upkg/.filmeto-pythonpath" && find . -type f | sort | tr '\n' ' ')" = \
		"./server/__init__.py ./server/plugins/__init__.py ./server/plugins/base_plugin.py " ]
	# The installed copy runs on its own, with its venv, Debian's PIL and the base class.
	upkg_runs "" a
	[ "$(sed -n 3p out/a/out.txt)" = "$PLUGINS/upkg/.venv/bin/python3" ]
	run filmeto-plugin doctor upkg
	[ "$status" -eq 0 ]
	[[ "$output" == *"interpreter: $PLUGINS/upkg/.venv/bin/python3 (.venv)"* ]]
	# Without the package files, the import that upstream's layout needs breaks.
	rm -r "$PLUGINS/upkg/.filmeto-pythonpath"
	! upkg_runs "" b
}

@test "install: a package pip cannot get fails clearly, with the configured python, and leaves nothing" {
	cp -R "$TREE" tree
	sed -i 's/^    - pillow>=5.0$/&\n    - filmeto-no-such-package-xyz/' tree/server/plugins/upkg/plugin.yml
	alt=$(alt_python chosen-python)
	printf 'python: %s\n' "$alt" > "$FILMETO_CONFIG"
	FILMETO_TEST_TOKEN=sekrit run filmeto-plugin install tree/server/plugins/upkg
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"running '$alt -I -m venv --system-site-packages .venv' (config python: ($FILMETO_CONFIG, python))"* ]]
	[[ "$output" == *"pip could not install the plugin's requirements"* ]]
	[[ "$output" == *"filmeto-no-such-package-xyz"* ]]
	[ -z "$(ls -A "$PLUGINS")" ]
}
