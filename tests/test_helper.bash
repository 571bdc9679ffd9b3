# Shared by every suite: the build first on PATH, the test plugins on the
# plugin path, and every XDG directory inside the test's scratch space so
# nothing from the machine leaks in.
bats_require_minimum_version 1.5.0

ROOT="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
PATH="$ROOT/cmd:$PATH"
BAD_PLUGINS="$ROOT/tests/fixtures/bad-plugins"

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

# Processes whose command line mentions $1, other than this shell's greps.
count_procs() {
	pgrep -f -- "$1" | wc -l
}
