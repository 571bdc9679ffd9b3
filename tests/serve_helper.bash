# What the filmeto-serve tests share: a server on a free loopback port,
# curl against it, and a look into JSON answers. Loaded after test_helper;
# a file that starts servers kills SERVE_PID in its teardown.

# A free TCP port on loopback.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# serve [ARGS...]: starts filmeto-serve on a free loopback port (URL), its
# stderr in serve.err, and waits until it answers.
serve() {
	PORT=$(free_port)
	URL="http://127.0.0.1:$PORT"
	filmeto-serve --listen "127.0.0.1:$PORT" "$@" 2>serve.err &
	SERVE_PID=$!
	wait_for curl -sf -o /dev/null "$URL/health"
}

# api METHOD PATH [CURL ARGS...]: the status on stdout, the body in body.
api() {
	local method=$1 path=$2
	shift 2
	curl -s -o body -w '%{http_code}' -X "$method" "$@" "$URL$path"
}

# field EXPR: a Python expression over the JSON of body, bound to `b`.
field() {
	python3 -c 'import json, sys; b = json.load(open("body")); v = eval(sys.argv[1]); print(v if isinstance(v, str) else json.dumps(v))' "$1"
}

# state ID [CURL ARGS...]: the state GET /api/v1/tasks/ID answers.
state() {
	local id=$1
	shift
	curl -s "$@" "$URL/api/v1/tasks/$id" | python3 -c 'import json, sys; print(json.load(sys.stdin).get("state"))'
}
is_state() { [ "$(state "$1")" = "$2" ]; }

# serve_setup: what a serve test starts from: the test plugins, a spool
# of its own (SP), no server or client yet.
serve_setup() {
	common_setup
	private_plugins
	export FILMETO_SPOOL="$BATS_TEST_TMPDIR/spool"
	SP=$FILMETO_SPOOL
	SERVE_PID=
	CLIENT_PID=
}

# serve_teardown: the test's client, then its server (SIGTERM), each
# waited for, so nothing outlives the test.
serve_teardown() {
	if [ -n "${CLIENT_PID:-}" ]; then
		kill "$CLIENT_PID" 2>/dev/null || true
		wait "$CLIENT_PID" 2>/dev/null || true
	fi
	if [ -n "${SERVE_PID:-}" ]; then
		kill -TERM "$SERVE_PID" 2>/dev/null || true
		wait "$SERVE_PID" 2>/dev/null || true
	fi
}

# keys FILE LINES...: a key file, a line each ("NAME KEY [admin]"), mode 0600.
keys() {
	local f=$1
	shift
	printf '%s\n' "$@" >"$f"
	chmod 600 "$f"
}
