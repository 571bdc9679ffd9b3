# Shared by every suite: the build first on PATH, the test plugins on the
# plugin path, and every XDG directory inside the test's scratch space so
# nothing from the machine leaks in. Below that, the helpers more than one
# suite uses, each with one meaning; a suite keeps only its own.
bats_require_minimum_version 1.5.0

ROOT="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
PATH="$ROOT/cmd:$PATH"

# Debian's python3, which `make check` installs, first on PATH: a version
# manager's shim (pyenv's is a shell script) costs up to a second a start
# on a loaded machine, and the suites start python3 thousands of times
# (jget, the fakes, the Python plugins). Only under bats: sourced by hand,
# with BATS_RUN_TMPDIR empty, the link would be /bin/python3, which on a
# merged /usr is /usr/bin/python3 itself, made a link to itself.
if [ -n "${BATS_RUN_TMPDIR:-}" ] && [ -x /usr/bin/python3 ] &&
	[ "$(command -v python3)" != /usr/bin/python3 ]; then
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

# wait_for [-t SECONDS] CMD...: runs CMD every 0.05 s until it succeeds, for
# at most SECONDS (10 unless told), then once more for its status and its
# output. Tests wait for what they need to see, never for a length of time.
wait_for() {
	local tries=200
	if [ "$1" = -t ]; then
		tries=$(($2 * 20))
		shift 2
	fi
	for _ in $(seq "$tries"); do "$@" && return 0; sleep 0.05; done
	"$@"
}

# --- event streams ------------------------------------------------------------

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

# holds FILE EXPR...: every Python expression over the JSON lines of FILE
# is true; else the first false one is printed with the file's end. One
# interpreter for many checks keeps the suites fast. Bound: `lines`,
# `by(type)`, `ev(type, id)` (that task's lines of a type), `one(type, id)`
# (the first of them), and for a fake's log `fake(kind)` and
# `req(method, path prefix)`.
holds() {
	python3 - "$@" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def by(t):
    return [l for l in lines if l.get("type") == t]
def ev(t, i):
    return [l for l in by(t) if l.get("task_id") == i]
def one(t, i):
    return ev(t, i)[0]
def fake(kind):
    return [l for l in lines if l.get("fake") == kind]
def req(method, path):
    return [l for l in lines if l.get("method") == method and l.get("path", "").startswith(path)]
for e in sys.argv[2:]:
    if not eval(e):
        sys.exit("does not hold: %s\n%s" % (e, open(sys.argv[1]).read()[-3000:]))
PY
}

# final ID [SUFFIX]: the last final line (completed, failed or cancelled)
# of task ID in ./events, with the Python SUFFIX applied to it:
# final a '["error"]["code"]'.
final() {
	jget events "[l for l in lines if l.get('task_id') == '$1' and l['type'] in ('completed','failed','cancelled')][-1]${2:-}"
}

# jfile FILE EXPR: a Python expression over the JSON document FILE, bound to d.
jfile() {
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); v = eval(sys.argv[2]); print(v if isinstance(v, str) else json.dumps(v))' "$1" "$2"
}

# ev TYPE ID [EXTRA [TIME]]: one event line as filmeto-run writes it,
# stamped TIME (a fixed 2026-11-21T10:00:00.000Z unless told); EXTRA, the
# members after the timestamp, starts with a comma. Plain sh too, so that
# `declare -f ev` puts it into a generated script.
ev() {
	printf '{"type":"%s","task_id":"%s","timestamp":"%s"%s}\n' "$1" "$2" \
		"${4:-2026-11-21T10:00:00.000Z}" "${3:-}"
}

# --- task lines and plugins ---------------------------------------------------

# task ID PLUGIN TOOL PARAMS [more members]
task() {
	printf '{"type":"task","task_id":"%s","tool_name":"%s","plugin_name":"%s","parameters":%s%s}\n' \
		"$1" "$3" "$2" "$4" "${5:-}"
}
# echo_task ID [more members]: pyfilmeto's text2text echoing ID.
echo_task() { task "$1" pyfilmeto text2text "{\"text\":\"$1\"}" "${2:-}"; }

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

# plugin_procs [DIR]: how many processes run with their working directory
# under DIR (the private plugins unless told): a plugin, or anything it
# left behind. One find reads every /proc/PID/cwd link: a readlink per
# process took seconds a call on a loaded machine, and wait_for calls it
# every 0.05 s.
plugin_procs() {
	local dir=${1:-$BATS_TEST_TMPDIR/plugins}
	find /proc/[0-9]*/cwd -maxdepth 0 -lname "$dir*" -printf x 2>/dev/null | wc -c
}

# no_plugins_left [SECONDS]: within SECONDS (10 unless told), no process is
# left under the private plugins (plugin_procs).
no_plugins_left() {
	wait_for -t "${1:-10}" eval '[ "$(plugin_procs)" -eq 0 ]'
}

# --- media --------------------------------------------------------------------

# probe FILE ENTRIES [STREAM]: ffprobe's values of ENTRIES
# (stream=codec_name,width) as one CSV line per stream, or of STREAM (v:0,
# a:0) alone.
probe() {
	ffprobe -v error ${3:+-select_streams "$3"} -show_entries "$2" -of csv=p=0 "$1"
}

# duration FILE: its length in seconds, as ffprobe gives it.
duration() {
	probe "$1" format=duration
}

# --- fake services ------------------------------------------------------------

# start_fake NAME [ARGS...]: starts tests/fakes/fake_NAME.py (see
# tests/fakes/fakelib.py) on a free loopback port and waits for it. Sets
# FAKE_URL to its address and FAKE_LOG to its request log (one JSON line
# per request); ARGS go to the fake (--faults FILE, --lifetime S, its own
# options). Each test that starts one calls stop_fakes in its teardown.
start_fake() {
	local name=$1 portfile
	shift
	portfile="$BATS_TEST_TMPDIR/fake-$name.port"
	FAKE_LOG="$BATS_TEST_TMPDIR/fake-$name.log"
	rm -f "$portfile"
	python3 "$FAKES/fake_$name.py" --port-file "$portfile" --log "$FAKE_LOG" "$@" \
		</dev/null 3>&- &
	FAKE_PIDS="${FAKE_PIDS:-} $!"
	wait_for test -s "$portfile" || { echo "fake_$name did not start" >&2; return 1; }
	FAKE_URL="http://127.0.0.1:$(cat "$portfile")"
	export FAKE_URL FAKE_LOG
}

# serve DIR: tests/fakes/httpd.py serving DIR (made if missing) on a free
# loopback port, each request's path logged in DIR/requests.log. Sets PORT
# and URL; stop_fakes ends it.
serve() {
	local portfile="$BATS_TEST_TMPDIR/httpd.port"
	mkdir -p "$1"
	rm -f "$portfile"
	python3 "$FAKES/httpd.py" "$1" "$portfile" </dev/null 3>&- &
	FAKE_PIDS="${FAKE_PIDS:-} $!"
	wait_for test -s "$portfile" || { echo "httpd did not start" >&2; return 1; }
	PORT=$(cat "$portfile")
	URL="http://127.0.0.1:$PORT"
}

stop_fakes() {
	local p
	for p in ${FAKE_PIDS:-}; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	FAKE_PIDS=
}

# faults JSON: the fake's scripted faults (see tests/fakes/fakelib.py), as
# the fake's arguments: fake $(faults '[...]').
faults() {
	echo "$1" > "$BATS_TEST_TMPDIR/faults.json"
	echo "--faults $BATS_TEST_TMPDIR/faults.json"
}

# --- a remote plugin against its fake -----------------------------------------
#
# The remote_*.bats suites say in setup which bundled plugin they test and
# how it meets its fake:
#   REMOTE     the plugin, and its fake tests/fakes/fake_REMOTE.py
#   FAKE_ARGS  (an array) what every start of the fake gets, before a test's
#   ENDPOINT   where a task learns the fake's address: "config", config.yaml's
#              endpoint ($FAKE_URL$FAKE_API) with short waits, written as the
#              fake starts; "task", a -p endpoint= of each task; unset, the
#              test says it

# config [LINE...]: config.yaml with plugins.$REMOTE set to the lines (YAML,
# indented under it); with ENDPOINT=config, the fake's endpoint and short
# waits first.
config() {
	local l
	mkdir -p "$XDG_CONFIG_HOME/filmeto"
	{
		echo 'plugins:'
		echo "  $REMOTE:"
		if [ "${ENDPOINT:-}" = config ]; then
			echo "    endpoint: $FAKE_URL${FAKE_API:-}"
			echo '    backoff: 0.05'
			echo '    poll_interval: 0.02'
		fi
		for l; do echo "    $l"; done
	} > "$XDG_CONFIG_HOME/filmeto/config.yaml"
}

# fake [ARGS...]: the suite's fake on a free port (start_fake), given
# FAKE_ARGS and ARGS; with ENDPOINT=config, config.yaml pointing at it.
fake() {
	start_fake "$REMOTE" "${FAKE_ARGS[@]}" "$@"
	if [ "${ENDPOINT:-}" = config ]; then
		config
	fi
}

# sub ID TOOL [filmeto-submit options]: the task line of ID for $REMOTE.
sub() {
	local id=$1 tool=$2
	shift 2
	if [ "${ENDPOINT:-}" = task ]; then
		set -- -p endpoint="$FAKE_URL" "$@"
	fi
	filmeto-submit -t "$tool" -P "$REMOTE" -i "$id" "$@"
}

# go [filmeto-run options]: task lines on stdin through filmeto-run into
# events, its stderr into errlog; the exit status in $status.
go() {
	status=0
	filmeto-run --no-cache -d out "$@" > events 2> errlog || status=$?
}

# gen TOOL [filmeto-submit options]: one task t (sub) run into events; its
# line in task.ndjson, the exit status in $st.
gen() {
	local tool=$1
	shift
	st=0
	sub t "$tool" "$@" >task.ndjson
	filmeto-run --no-cache -d out <task.ndjson >events || st=$?
}

# failed_with CODE: gen's task failed with CODE.
failed_with() {
	[ "$st" -eq 1 ] || { echo "status $st"; cat events; return 1; }
	holds events "by('failed')[0]['error']['code'] == '$1'"
}

# private [SHARED...]: the bundled plugin $REMOTE copied under the test's
# scratch space, with each SHARED folder of share/filmeto where it looks
# for it, so plugin_procs can tell its processes from any other run's.
private() {
	local d
	mkdir -p "$BATS_TEST_TMPDIR/plugins"
	cp -R "$ROOT/plugins/$REMOTE" "$BATS_TEST_TMPDIR/plugins/"
	for d; do
		mkdir -p "$BATS_TEST_TMPDIR/share/filmeto"
		cp -R "$ROOT/share/filmeto/$d" "$BATS_TEST_TMPDIR/share/filmeto/"
	done
	export FILMETO_PLUGIN_PATH="$BATS_TEST_TMPDIR/plugins"
}

# --- the spool ($SP, the suite's FILMETO_SPOOL) -------------------------------

# noop [filmeto-submit options]: queues a noop task.
noop() { filmeto-submit --queue -t noop -P noop "$@"; }
# queue_slow DELAY [filmeto-submit options]: queues a task of DELAY seconds.
queue_slow() { filmeto-submit --queue -t render -P gpu -p text=x -p mode=slow -p delay="$1" "${@:2}"; }

# logof ID: the log of task ID.
logof() { echo "$SP"/log/*."$1"; }
# in_dir SUBDIR ID: task ID is in that spool directory.
in_dir() { [ -n "$(ls "$SP/$1" | grep -F ".$2")" ]; }
# finals ID, claims ID: how many final lines, and claims, the log of ID holds.
finals() { grep -c -E '^\{"type":"(completed|failed|cancelled)"' "$(logof "$1")"; }
claims() { grep -c '^{"type":"claimed"' "$(logof "$1")"; }

# --- a terminal ---------------------------------------------------------------

# on_tty COMMAND [COLS ROWS]: runs COMMAND in the pane w of the tmux server
# $sock, 100x20 unless told; its status goes to ./rc.
on_tty() {
	tmux -L "$sock" -f /dev/null new-session -d -x "${2:-100}" -y "${3:-20}" -s w \
		"PATH='$PATH'; cd '$PWD'; $1; echo \$? >rc.tmp; mv rc.tmp rc; sleep 60"
}

# screen: what the pane shows.
screen() {
	tmux -L "$sock" capture-pane -p -t w
}

# until_screen PATTERN: waits (at most 10 s) until the screen matches;
# else shows it and fails.
until_screen() {
	local i
	for i in $(seq 200); do
		screen | grep -qE -- "$1" && return 0
		sleep 0.05
	done
	screen
	return 1
}

# ci_steps FILE JOB: the shell of the run steps of job JOB in the GitHub
# Actions workflow FILE, both `run: command` and `run: |` blocks, in order.
ci_steps() {
	awk -v job="$2" '
	/^  [A-Za-z0-9_-]+:[ \t]*$/ { name = $1; sub(/:$/, "", name); inblock = 0; next }
	name != job { next }
	inblock {
		match($0, /^ */)
		if (RLENGTH > indent || $0 ~ /^[ \t]*$/) { print substr($0, indent + 3); next }
		inblock = 0
	}
	/^ *(- )?run: *\|[ \t]*$/ { match($0, /^ */); indent = RLENGTH; if ($0 ~ /- run/) indent += 2; inblock = 1; next }
	/^ *(- )?run: / { sub(/^ *(- )?run: */, ""); print }
	' "$1"
}

# needs_node_client NAME: fails (never skips) when tests/node_modules lacks
# the npm package NAME: make check installs them, so a missing one is a
# broken setup, not an optional feature.
needs_node_client() {
	[ -d "$ROOT/tests/node_modules/$1" ] && return 0
	echo "tests/node_modules/$1 is missing: run make node-deps (make check does)" >&2
	return 1
}
