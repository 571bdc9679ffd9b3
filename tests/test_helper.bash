# Shared by every suite: the build first on PATH, the test plugins on the
# plugin path, and every XDG directory inside the test's scratch space so
# nothing from the machine leaks in.
bats_require_minimum_version 1.5.0

ROOT="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
PATH="$ROOT/cmd:$PATH"

# Debian's python3, which `make check` installs, first on PATH: a version
# manager's shim (pyenv's is a shell script) costs up to a second a start
# on a loaded machine, and the suites start python3 thousands of times
# (jget, the fakes, the Python plugins).
if [ -x /usr/bin/python3 ] && [ "$(command -v python3)" != /usr/bin/python3 ]; then
	mkdir -p "$BATS_RUN_TMPDIR/bin"
	ln -sf /usr/bin/python3 "$BATS_RUN_TMPDIR/bin/python3" 2>/dev/null || true
	PATH="$BATS_RUN_TMPDIR/bin:$PATH"
fi
BAD_PLUGINS="$ROOT/tests/fixtures/bad-plugins"
# The fake services (fake_NAME.py on fakelib.py) and the file server httpd.py.
FAKES="$ROOT/tests/fakes"

common_setup() {
	export FILMETO_PLUGIN_PATH="$ROOT/tests/plugins"
	export XDG_DATA_HOME="$BATS_TEST_TMPDIR/data"
	export XDG_CONFIG_HOME="$BATS_TEST_TMPDIR/config"
	export XDG_CACHE_HOME="$BATS_TEST_TMPDIR/cache"
	export XDG_STATE_HOME="$BATS_TEST_TMPDIR/state"
	cd "$BATS_TEST_TMPDIR"
}

# jget FILE EXPR: evaluates a Python expression over the JSON lines of
# FILE, bound to `lines` (every parsed line) and `by(type)` (lines of a type).
jget() {
	python3 - "$1" "$2" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def by(t, lines=lines):
    return [l for l in lines if l.get("type") == t]
v = eval(sys.argv[2])
print(json.dumps(v) if not isinstance(v, str) else v)
PY
}

# private_plugins [DIR...]: copies of the plugin directories (default
# tests/plugins) under the test's scratch space, put on the plugin path,
# so the processes they start can be told from any other run's.
private_plugins() {
	local src
	mkdir -p "$BATS_TEST_TMPDIR/plugins"
	for src in "${@:-$ROOT/tests/plugins}"; do
		cp -R "$src"/. "$BATS_TEST_TMPDIR/plugins/"
	done
	export FILMETO_PLUGIN_PATH="$BATS_TEST_TMPDIR/plugins"
}

# How many processes run with their working directory under the private
# plugins: a plugin, or anything it left behind.
plugin_procs() {
	local p n=0 cwd
	for p in /proc/[0-9]*; do
		cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
		case "$cwd" in "$BATS_TEST_TMPDIR/plugins"*) n=$((n + 1)) ;; esac
	done
	echo "$n"
}

# start_fake NAME [ARGS...]: starts tests/fakes/fake_NAME.py (see
# tests/fakes/fakelib.py) on a free loopback port and waits for it. Sets
# FAKE_URL to its address and FAKE_LOG to its request log (one JSON line
# per request); ARGS go to the fake (--faults FILE, --lifetime S, its own
# options). Each test that
# starts one calls stop_fakes in its teardown.
start_fake() {
	local name=$1 portfile i
	shift
	portfile="$BATS_TEST_TMPDIR/fake-$name.port"
	FAKE_LOG="$BATS_TEST_TMPDIR/fake-$name.log"
	rm -f "$portfile"
	python3 "$FAKES/fake_$name.py" --port-file "$portfile" --log "$FAKE_LOG" "$@" \
		</dev/null 3>&- &
	FAKE_PIDS="${FAKE_PIDS:-} $!"
	for i in $(seq 200); do
		[ -s "$portfile" ] && break
		sleep 0.05
	done
	[ -s "$portfile" ] || { echo "fake_$name did not start" >&2; return 1; }
	FAKE_URL="http://127.0.0.1:$(cat "$portfile")"
	export FAKE_URL FAKE_LOG
}

stop_fakes() {
	local p
	for p in ${FAKE_PIDS:-}; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	FAKE_PIDS=
}
