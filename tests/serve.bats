#!/usr/bin/env bats
# filmeto-serve: the FilmetoApi routes over the spool, with curl on
# loopback; its own workers and filmeto-run --spool elsewhere do the work.

load test_helper
load serve_helper

setup() {
	serve_setup
}

teardown() {
	serve_teardown
}

noop() { printf '{"task_id":"%s","tool_name":"noop","plugin_name":"noop"}' "$1"; }

@test "--help, --version and usage errors" {
	run filmeto-serve --help
	[ "$status" -eq 0 ]
	[[ "$output" == "usage: filmeto-serve"* ]]
	run filmeto-serve --version
	[ "$status" -eq 0 ]
	[[ "$output" == "filmeto-serve "* ]]
	run filmeto-serve --listen nowhere
	[ "$status" -eq 2 ]
	run filmeto-serve --workers -1
	[ "$status" -eq 2 ]
	run filmeto-serve extra
	[ "$status" -eq 2 ]
}

@test "no listening beyond loopback without keys" {
	run filmeto-serve --listen 0.0.0.0:1
	[ "$status" -eq 2 ]
	[[ "$output" == *"beyond loopback without --key-file"* ]]
	run filmeto-serve --listen '[::]:1'
	[ "$status" -eq 2 ]
}

@test "health, tools and plugins answer what filmeto-plugin says" {
	serve --workers 0
	[ "$(api GET /health)" = 200 ]
	[ "$(field 'b["status"]')" = ok ]
	[ "$(field 'b["workers"]')" = 0 ]
	[ "$(api GET /api/v1/tools)" = 200 ]
	[ "$(python3 -c 'import json; print(json.dumps(json.load(open("body")), sort_keys=True))')" = \
		"$(filmeto-plugin tools --json | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin), sort_keys=True))')" ]
	[ "$(api GET /api/v1/plugins)" = 200 ]
	[ "$(python3 -c 'import json; print(json.dumps(json.load(open("body")), sort_keys=True))')" = \
		"$(filmeto-plugin list --json | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin), sort_keys=True))')" ]
}

@test "a task queued through the server runs on its own worker to completion" {
	serve
	[ "$(api POST /api/v1/tasks --data-binary "$(noop t1)")" = 201 ]
	[ "$(field 'b["task_ids"]')" = '["t1"]' ]
	wait_for is_state t1 done
	[ "$(api GET /api/v1/tasks/t1)" = 200 ]
	[ "$(field 'b["type"]')" = status ]
	[ "$(field 'b["result"]["status"]')" = success ]
	# The same object as filmeto-watch --status, but for the moment it was made.
	run filmeto-watch --status t1
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | python3 -c 'import json, sys; o = json.load(sys.stdin); o.pop("timestamp"); print(json.dumps(o, sort_keys=True))')" = \
		"$(python3 -c 'import json; o = json.load(open("body")); o.pop("timestamp"); print(json.dumps(o, sort_keys=True))')" ]
}

@test "with --workers 0 a separate filmeto-run --spool --drain runs what the server queued" {
	serve --workers 0
	[ "$(api POST /api/v1/tasks --data-binary "[$(noop a1),$(noop a2)]")" = 201 ]
	[ "$(field 'b["task_ids"]')" = '["a1", "a2"]' ]
	[ "$(state a1)" = queued ]
	run filmeto-run --spool --drain
	[ "$status" -eq 0 ]
	[ "$(state a1)" = done ]
	[ "$(state a2)" = done ]
}

@test "POSTs at once share a commit: each answered 201 only once queued; one id wins once; a task may need one queued beside it" {
	serve --workers 0
	# 40 clients at once, two of them with the same id, one needing another's task.
	pids=
	for i in $(seq 1 40); do
		id=c$i
		[ "$i" -eq 40 ] && id=c1
		if [ "$i" -eq 39 ]; then
			body='{"task_id":"c39","tool_name":"noop","plugin_name":"noop","depends_on":["c2"]}'
		else
			body=$(noop "$id")
		fi
		curl -s -o "body.$i" -w '%{http_code}\n' -X POST --data-binary "$body" "$URL/api/v1/tasks" >"code.$i" &
		pids="$pids $!"
	done
	wait $pids
	# c39's dependency may have come after it: then it is refused, never queued without it.
	[ "$(cat code.* | sort | uniq -c | awk '$2 == 201 { print $1 }')" -ge 38 ]
	# The same id twice: queued once, and at most one of the two told 201.
	echo "c1's answers: $(cat code.1 code.40 | tr '\n' ' ')" >&2
	[ "$(ls "$SP/queue" | grep -c '\.c1$')" -eq 1 ]
	[ "$(cat code.1 code.40 | grep -c 201)" -le 1 ]
	# Every 201's ids are in the spool, committed (queue/, not tmp/).
	for i in $(seq 1 40); do
		[ "$(cat "code.$i")" = 201 ] || continue
		cp "body.$i" body
		for id in $(field '" ".join(b["task_ids"])'); do
			ls "$SP/queue" | grep -q "\.$id\$"
		done
	done
	[ "$(ls "$SP/tmp" | wc -l)" -eq 0 ]
	[ "$(filmeto-watch --list --json | python3 -c 'import json, sys; print(sum(t["state"] == "queued" for t in json.load(sys.stdin)))')" -eq "$(ls "$SP/queue" | wc -l)" ]
}

@test "a plugin installed while the server runs is known to it within a second or so; an edited manifest too" {
	serve --workers 0
	late() { printf '{"task_id":"%s","tool_name":"noop","plugin_name":"late"}' "$1"; }
	# posts STATUS: a new task for late answers STATUS.
	n=0
	posts() {
		n=$((n + 1))
		[ "$(api POST /api/v1/tasks --data-binary "$(late "l$n")")" = "$1" ]
	}
	posts 422
	cp -R "$ROOT/plugins/noop" "$FILMETO_PLUGIN_PATH/late"
	sed -i 's/^name: noop/name: late/' "$FILMETO_PLUGIN_PATH/late/plugin.yaml"
	wait_for -t 5 posts 201
	# The manifest edited in place (its tool renamed): the old tool is gone.
	sed -i 's/^  - name: noop$/  - name: nothing/' "$FILMETO_PLUGIN_PATH/late/plugin.yaml"
	grep -q '^  - name: nothing$' "$FILMETO_PLUGIN_PATH/late/plugin.yaml"
	wait_for -t 5 posts 422
	[[ "$(field 'b["error"]["message"]')" == *"noop"* ]]
}

@test "every problem of a batch at once: 422, nothing queued" {
	serve --workers 0
	[ "$(api POST /api/v1/tasks --data-binary "[$(noop ok1),{\"task_id\":\"b1\",\"tool_name\":\"nosuch\"},{\"tool_name\":\"noop\"},$(noop ok1)]")" = 422 ]
	[ "$(field 'b["error"]["code"]')" = VALIDATION_ERROR ]
	[ "$(field 'len(b["error"]["details"]["problems"]) >= 3')" = true ]
	[[ "$(field 'b["error"]["details"]["problems"]')" == *nosuch* ]]
	[ "$(ls "$SP/queue" | wc -l)" -eq 0 ]
	# An id the spool has already is refused as filmeto-submit refuses it.
	[ "$(api POST /api/v1/tasks --data-binary "$(noop t1)")" = 201 ]
	[ "$(api POST /api/v1/tasks --data-binary "$(noop t1)")" = 422 ]
	[[ "$(field 'b["error"]["message"]')" == *"already"* ]]
	# Not a task object nor an array of them.
	[ "$(api POST /api/v1/tasks --data-binary '42')" = 422 ]
	[ "$(api POST /api/v1/tasks --data-binary '[]')" = 422 ]
}

@test "bad JSON is 400, a body past 64 MiB is 413" {
	serve --workers 0
	[ "$(api POST /api/v1/tasks --data-binary '{"task_id":')" = 400 ]
	[ "$(field 'b["error"]["code"]')" = VALIDATION_ERROR ]
	[[ "$(field 'b["error"]["message"]')" == *"not valid JSON"* ]]
	head -c $((64 * 1024 * 1024 + 1)) /dev/zero > big
	[ "$(api POST /api/v1/tasks --data-binary @big)" = 413 ]
	[ "$(api GET /health)" = 200 ]
}

@test "unknown routes 404, wrong methods 405, bad ids and queries 400" {
	serve --workers 0
	[ "$(api GET /nowhere)" = 404 ]
	[ "$(field 'b["error"]["code"]')" = VALIDATION_ERROR ]
	[ "$(api GET /api/v1/tasks/nosuch)" = 404 ]
	[ "$(field 'b["error"]["code"]')" = TASK_NOT_FOUND ]
	[ "$(api DELETE /api/v1/tasks/nosuch)" = 404 ]
	[ "$(api GET /api/v1/tasks/a/b)" = 404 ]
	[ "$(api PUT /api/v1/tasks)" = 405 ]
	curl -s -o /dev/null -D headers -X DELETE "$URL/api/v1/tasks"
	grep -qi '^Allow: GET, POST' headers
	[ "$(api POST /api/v1/tools)" = 405 ]
	[ "$(api POST /health)" = 405 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -I "$URL/health")" = 200 ]
	[ "$(api GET /api/v1/tasks/%2e%2e)" = 400 ]
	[ "$(api GET /api/v1/tasks/..%2fetc)" = 400 ]
	[ "$(api GET /api/v1/tasks/a%00b)" = 400 ]
	[ "$(api GET '/api/v1/tasks?limit=0')" = 400 ]
	[ "$(api GET '/api/v1/tasks?state=asleep')" = 400 ]
	[ "$(api GET '/api/v1/tasks?after=..')" = 400 ]
	[ "$(api GET '/api/v1/tasks?color=red')" = 400 ]
	[ "$(api GET '/api/v1/tools?x=1')" = 400 ]
}

@test "the list pages in queue order and filters by state" {
	serve --workers 0
	for i in 1 2 3; do
		[ "$(api POST /api/v1/tasks --data-binary "$(noop p$i)")" = 201 ]
	done
	[ "$(api DELETE /api/v1/tasks/p3)" = 200 ]
	[ "$(api GET '/api/v1/tasks?limit=2')" = 200 ]
	[ "$(field '[t["task_id"] for t in b["tasks"]]')" = '["p1", "p2"]' ]
	[ "$(field 'b["next"]')" = p2 ]
	[ "$(api GET '/api/v1/tasks?limit=2&after=p2')" = 200 ]
	[ "$(field '[t["task_id"] for t in b["tasks"]]')" = '["p3"]' ]
	[ "$(field 'b["next"]')" = null ]
	[ "$(api GET '/api/v1/tasks?state=cancelled')" = 200 ]
	[ "$(field '[t["task_id"] for t in b["tasks"]]')" = '["p3"]' ]
	[ "$(api GET '/api/v1/tasks?state=queued')" = 200 ]
	[ "$(field '[t["task_id"] for t in b["tasks"]]')" = '["p1", "p2"]' ]
}

@test "DELETE cancels a queued task as filmeto-submit --cancel does; a finished one is 409" {
	serve --workers 0
	[ "$(api POST /api/v1/tasks --data-binary "$(noop c1)")" = 201 ]
	[ "$(api DELETE /api/v1/tasks/c1)" = 200 ]
	[ "$(field 'b["state"]')" = cancelled ]
	[ "$(state c1)" = cancelled ]
	[ "$(api DELETE /api/v1/tasks/c1)" = 409 ]
	run filmeto-submit --cancel c1
	[ "$status" -eq 1 ]
}

@test "SIGTERM stops accepting, stops the workers (their tasks stay queued), exits 0" {
	serve
	worker=$(pgrep -P "$SERVE_PID")
	[ -n "$worker" ]
	[ "$(api POST /api/v1/tasks --data-binary '{"task_id":"slow","tool_name":"render","plugin_name":"gpu","parameters":{"text":"x","mode":"slow","delay":30}}')" = 201 ]
	wait_for -t 20 is_state slow running
	kill -TERM "$SERVE_PID"
	rc=0
	wait "$SERVE_PID" || rc=$?
	SERVE_PID=
	[ "$rc" -eq 0 ]
	! kill -0 "$worker" 2>/dev/null
	run curl -s "$URL/health"
	[ "$status" -ne 0 ]
	run filmeto-watch --status slow
	[[ "$output" == *'"state":"queued"'* ]]
}

@test "a worker that dies is started again" {
	serve
	worker=$(pgrep -P "$SERVE_PID")
	[ -n "$worker" ]
	kill -KILL "$worker"
	new() { local p; p=$(pgrep -P "$SERVE_PID") && [ "$p" != "$worker" ]; }
	wait_for new
	grep -q "worker $worker was killed by signal 9" serve.err
	[ "$(api GET /health)" = 200 ]
	[ "$(field 'b["workers"]')" = 1 ]
	[ "$(api POST /api/v1/tasks --data-binary "$(noop after)")" = 201 ]
	wait_for is_state after done
}

ALICE=alice-key-0123456789abcdef
BOB=bob-key-0123456789abcdef
ROOT_KEY=root-key-0123456789abcdef

@test "a key file must be 0600 and well formed" {
	keys k "alice $ALICE"
	chmod 644 k
	run filmeto-serve --key-file k --workers 0
	[ "$status" -eq 2 ]
	[[ "$output" == *"0600"* ]]
	keys k "alice short"
	run filmeto-serve --key-file k --workers 0
	[ "$status" -eq 2 ]
	[[ "$output" != *short* ]]
	keys k "alice $ALICE" "alice $BOB"
	run filmeto-serve --key-file k --workers 0
	[ "$status" -eq 2 ]
	[[ "$output" == *"used twice"* ]]
	[[ "$output" != *"$BOB"* ]]
}

@test "keys: none or a wrong one is 401, one in the URL is 401 and never logged" {
	keys k "alice $ALICE"
	serve --key-file k --workers 0
	[ "$(api GET /api/v1/tasks)" = 401 ]
	grep -qi '^www-authenticate: Bearer' <(curl -s -D - -o /dev/null "$URL/api/v1/tasks")
	[ "$(api GET /api/v1/tasks -H "Authorization: Bearer $BOB")" = 401 ]
	[ "$(api GET /api/v1/tasks -H "Authorization: Bearer ${ALICE}x")" = 401 ]
	[ "$(api GET /api/v1/tasks -H "Authorization: Basic $ALICE")" = 401 ]
	[ "$(api GET /api/v1/tasks -H "Authorization: Bearer $ALICE")" = 200 ]
	[ "$(api GET "/api/v1/tasks?api_key=$ALICE")" = 401 ]
	[ "$(api GET "/api/v1/tasks?key=$ALICE" -H "Authorization: Bearer $ALICE")" = 401 ]
	! grep -q "$ALICE" body
	[ "$(api GET /health)" = 200 ]
	! grep -q "$ALICE" serve.err
}

@test "a task records its key's name; a key sees only its own tasks unless admin" {
	keys k "alice $ALICE" "bob $BOB" "root $ROOT_KEY admin"
	serve --key-file k --workers 0
	[ "$(api POST /api/v1/tasks -H "Authorization: Bearer $ALICE" --data-binary '{"task_id":"mine","tool_name":"noop","plugin_name":"noop","metadata":{"queued_by":"bob"}}')" = 201 ]
	grep -q '"queued_by":"alice"' "$SP"/queue/*.mine
	! grep -rq "$ALICE" "$SP"
	[ "$(api POST /api/v1/tasks -H "Authorization: Bearer $BOB" --data-binary "$(noop theirs)")" = 201 ]
	[ "$(api GET /api/v1/tasks/mine -H "Authorization: Bearer $BOB")" = 404 ]
	[ "$(api DELETE /api/v1/tasks/mine -H "Authorization: Bearer $BOB")" = 404 ]
	[ "$(state mine -H "Authorization: Bearer $ALICE")" = queued ]
	[ "$(api GET /api/v1/tasks -H "Authorization: Bearer $BOB")" = 200 ]
	[ "$(field '[t["task_id"] for t in b["tasks"]]')" = '["theirs"]' ]
	[ "$(api GET /api/v1/tasks -H "Authorization: Bearer $ROOT_KEY")" = 200 ]
	[ "$(field '[t["task_id"] for t in b["tasks"]]')" = '["mine", "theirs"]' ]
	[ "$(api DELETE /api/v1/tasks/mine -H "Authorization: Bearer $ROOT_KEY")" = 200 ]
	# Nor through a task: another's outputs, or a file of the server's.
	[ "$(api POST /api/v1/tasks -H "Authorization: Bearer $BOB" --data-binary '{"task_id":"peek","tool_name":"noop","plugin_name":"noop","depends_on":["mine"]}')" = 422 ]
	[[ "$(field 'b["error"]["message"]')" == *"neither in the plan nor in the spool"* ]]
	[ "$(api POST /api/v1/tasks -H "Authorization: Bearer $BOB" --data-binary '{"task_id":"file","tool_name":"noop","plugin_name":"noop","resources":[{"type":"local_path","data":"/etc/passwd"}]}')" = 422 ]
	[[ "$(field 'b["error"]["message"]')" == *"local_path is not taken over HTTP"* ]]
	[ "$(api POST /api/v1/tasks -H "Authorization: Bearer $BOB" --data-binary '{"task_id":"obj","tool_name":"noop","plugin_name":"noop","resources":[{"type":"remote_url","data":"s3://their-bucket/secret.png"}]}')" = 422 ]
	[[ "$(field 'b["error"]["message"]')" == *"an s3:// URL is not taken over HTTP"* ]]
	[ "$(api POST /api/v1/tasks -H "Authorization: Bearer $BOB" --data-binary '{"task_id":"own","tool_name":"noop","plugin_name":"noop","depends_on":["theirs"]}')" = 201 ]
	[ "$(api POST /api/v1/tasks -H "Authorization: Bearer $ROOT_KEY" --data-binary '{"task_id":"adm","tool_name":"noop","plugin_name":"noop","depends_on":["mine"]}')" = 201 ]
	# Nor point a plugin elsewhere: the worker would send the operator's
	# API key to that endpoint, or read and send on that workflow file.
	[ "$(api POST /api/v1/tasks -H "Authorization: Bearer $BOB" --data-binary '{"task_id":"leak","tool_name":"text2text","plugin_name":"openai","parameters":{"prompt":"x","endpoint":"http://127.0.0.1:9/v1"}}')" = 422 ]
	[[ "$(field 'b["error"]["message"]')" == *"parameter 'endpoint'"*"only an admin key"* ]]
	[ "$(api POST /api/v1/tasks -H "Authorization: Bearer $BOB" --data-binary '{"task_id":"wf","tool_name":"text2image","plugin_name":"comfyui","parameters":{"prompt":"x","workflow":"/etc/passwd"}}')" = 422 ]
	[[ "$(field 'b["error"]["message"]')" == *"parameter 'workflow'"* ]]
	[ "$(api POST /api/v1/tasks -H "Authorization: Bearer $ROOT_KEY" --data-binary '{"task_id":"ep","tool_name":"text2text","plugin_name":"openai","parameters":{"prompt":"x","endpoint":"http://127.0.0.1:9/v1"}}')" = 201 ]
}

@test "with keys it may listen beyond loopback" {
	keys k "alice $ALICE"
	PORT=$(free_port)
	filmeto-serve --listen "0.0.0.0:$PORT" --key-file k --workers 0 2>serve.err &
	SERVE_PID=$!
	URL="http://127.0.0.1:$PORT"
	wait_for curl -sf -o /dev/null "$URL/health"
}

# --- streams and files --------------------------------------------------------

# events FILE: "ID EVENT" for each Server-Sent Event in FILE ("-" when it has no id).
events() {
	python3 -c '
import sys
ev = {}
for line in open(sys.argv[1]).read().split("\n"):
    if not line:
        if ev:
            print(ev.get("id", "-"), ev.get("event", "message"))
        ev = {}
    elif ":" in line:
        k, v = line.split(":", 1)
        ev[k] = v[1:] if v.startswith(" ") else v
' "$1"
}

# log_events ID: "LINE TYPE" for each event line of task ID's log (the spool's claimed lines aside).
log_events() {
	python3 -c '
import json, sys
for n, line in enumerate(open(sys.argv[1]), 1):
    t = json.loads(line)["type"]
    if t != "claimed":
        print(n, t)
' "$SP"/log/*."$1"
}

pyecho() {
	printf '{"task_id":"%s","tool_name":"text2text","plugin_name":"pyfilmeto","parameters":{"text":"%s","repeat":3%s}}' \
		"$1" "$1" "${2:-}"
}

@test "stream: a finished task's events, each id its log line, then the end; Last-Event-ID gives the rest" {
	serve
	[ "$(api POST /api/v1/tasks --data-binary "$(pyecho f1)")" = 201 ]
	wait_for is_state f1 done
	curl -sN -m 10 -D headers -o all "$URL/api/v1/tasks/f1/stream"
	grep -qi '^content-type: text/event-stream' headers
	[ "$(events all)" = "$(log_events f1)" ]
	[ "$(events all | tail -n 1 | cut -d' ' -f2)" = completed ]
	grep -q '^data: {"type":"completed","task_id":"f1"' all
	# Resume after the second event: exactly the rest, none twice, none left out.
	second=$(events all | sed -n 2p | cut -d' ' -f1)
	curl -sN -m 10 -H "Last-Event-ID: $second" -o rest "$URL/api/v1/tasks/f1/stream"
	[ "$(events rest)" = "$(events all | sed 1,2d)" ]
	last=$(events all | tail -n 1 | cut -d' ' -f1)
	curl -sN -m 10 -H "Last-Event-ID: $last" -o none "$URL/api/v1/tasks/f1/stream"
	[ ! -s none ]
	[ "$(api GET /api/v1/tasks/f1/stream -H 'Last-Event-ID: x1')" = 400 ]
	[ "$(api GET /api/v1/tasks/nosuch/stream)" = 404 ]
	[ "$(field 'b["error"]["code"]')" = TASK_NOT_FOUND ]
	[ "$(api GET /api/v1/tasks/%2e%2e/stream)" = 400 ]
	[ "$(api DELETE /api/v1/tasks/f1/stream)" = 405 ]
}

@test "stream: a running task live, its progress before its final line" {
	FILMETO_SERVE_HEARTBEAT=0.2 serve
	[ "$(api POST /api/v1/tasks --data-binary "$(pyecho live ',"mode":"slow","delay":1.5')")" = 201 ]
	[ "$(state live)" != done ]
	curl -sN -m 20 -o live "$URL/api/v1/tasks/live/stream"
	[ "$(events live | grep -v '^- ')" = "$(log_events live)" ]
	events live | grep -q ' progress$'
	[ "$(events live | tail -n 1 | cut -d' ' -f2)" = completed ]
}

@test "stream: a quiet task has heartbeats; SIGTERM ends open streams cleanly" {
	FILMETO_SERVE_HEARTBEAT=0.1 serve --workers 0
	[ "$(api POST /api/v1/tasks --data-binary "$(pyecho quiet)")" = 201 ]
	# grep stops reading at the second heartbeat; curl ends on the closed pipe.
	curl -sN -m 10 "$URL/api/v1/tasks/quiet/stream" | grep -m 2 -A 1 '^event: heartbeat' > quiet || true
	[ "$(grep -c '^event: heartbeat' quiet)" -eq 2 ]
	grep -q '^data: {"type":"heartbeat","task_id":"quiet","timestamp":' quiet
	# A stream open when the server stops ends as a finished one does: curl exits 0.
	curl -sN -m 20 -o open "$URL/api/v1/tasks/quiet/stream" &
	client=$!
	wait_for grep -q heartbeat open
	kill -TERM "$SERVE_PID"
	rc=0
	wait "$SERVE_PID" || rc=$?
	SERVE_PID=
	[ "$rc" -eq 0 ]
	rc=0
	wait "$client" || rc=$?
	[ "$rc" -eq 0 ]
}

@test "files: an output file whole, by Range, HEAD; its Content-Type; 404, 416 and 400 as they should" {
	cp -R "$ROOT/plugins/titlecard" "$BATS_TEST_TMPDIR/plugins/"
	serve
	[ "$(api POST /api/v1/tasks --data-binary "[$(pyecho f1),{\"task_id\":\"card\",\"tool_name\":\"text2image\",\"plugin_name\":\"titlecard\",\"parameters\":{\"prompt\":\"Act one\"}}]")" = 201 ]
	wait_for -t 30 is_state f1 done
	wait_for -t 30 is_state card done
	out=$(python3 -c 'import json, sys; print([json.loads(l) for l in open(sys.argv[1])][-1]["output_files"][0])' "$SP"/log/*.f1)
	curl -s -D headers -o got "$URL/api/v1/tasks/f1/files/0"
	cmp got "$out"
	grep -qi '^content-type: text/plain' headers
	grep -qi '^accept-ranges: bytes' headers
	grep -qi "^content-length: $(stat -c %s "$out")" headers
	png=$(python3 -c 'import json, sys; print([json.loads(l) for l in open(sys.argv[1])][-1]["output_files"][0])' "$SP"/log/*.card)
	size=$(stat -c %s "$png")
	curl -s -D headers -o got "$URL/api/v1/tasks/card/files/0"
	cmp got "$png"
	grep -qi '^content-type: image/png' headers
	# One range, a range to the end, the last bytes.
	[ "$(curl -s -o got -w '%{http_code}' -H 'Range: bytes=100-1123' -D headers "$URL/api/v1/tasks/card/files/0")" = 206 ]
	cmp got <(dd if="$png" bs=1 skip=100 count=1024 status=none)
	grep -qi "^content-range: bytes 100-1123/$size" headers
	[ "$(curl -s -o got -w '%{http_code}' -H "Range: bytes=$((size - 10))-" "$URL/api/v1/tasks/card/files/0")" = 206 ]
	cmp got <(tail -c 10 "$png")
	[ "$(curl -s -o got -w '%{http_code}' -H 'Range: bytes=-500' "$URL/api/v1/tasks/card/files/0")" = 206 ]
	cmp got <(tail -c 500 "$png")
	# Past the end: 416 with the size; malformed: ignored, the whole file.
	[ "$(curl -s -o body -w '%{http_code}' -H "Range: bytes=$size-" -D headers "$URL/api/v1/tasks/card/files/0")" = 416 ]
	grep -qi "^content-range: bytes \*/$size" headers
	[ "$(field 'b["error"]["code"]')" = VALIDATION_ERROR ]
	[ "$(curl -s -o got -w '%{http_code}' -H 'Range: bytes=5-1' "$URL/api/v1/tasks/card/files/0")" = 200 ]
	cmp got "$png"
	# HEAD: the headers alone.
	curl -s -I -o headers "$URL/api/v1/tasks/card/files/0"
	grep -qi "^content-length: $size" headers
	grep -qi '^content-type: image/png' headers
	# Only what the final line names, of a task that succeeded.
	[ "$(api GET /api/v1/tasks/card/files/1)" = 404 ]
	[ "$(api GET /api/v1/tasks/nosuch/files/0)" = 404 ]
	[ "$(api GET /api/v1/tasks/card/files/.. --path-as-is)" = 400 ]
	[ "$(api GET /api/v1/tasks/card/files/%2e%2e)" = 400 ]
	[ "$(api GET /api/v1/tasks/..%2fcard/files/0)" = 400 ]
	[ "$(api GET /api/v1/tasks/%2e%2e/files/0)" = 400 ]
	[ "$(api POST /api/v1/tasks --data-binary "$(pyecho later ',"mode":"slow","delay":30')")" = 201 ]
	[ "$(api GET /api/v1/tasks/later/files/0)" = 404 ]
	[ "$(api POST /api/v1/tasks --data-binary "$(pyecho bad ',"mode":"fail"')")" = 201 ]
	wait_for is_state bad failed
	[ "$(api GET /api/v1/tasks/bad/files/0)" = 404 ]
}

@test "keys: another key's task can be neither streamed nor downloaded" {
	keys k "alice $ALICE" "bob $BOB"
	serve --key-file k
	[ "$(api POST /api/v1/tasks -H "Authorization: Bearer $ALICE" --data-binary "$(pyecho mine)")" = 201 ]
	done_for_alice() { [ "$(state mine -H "Authorization: Bearer $ALICE")" = done ]; }
	wait_for done_for_alice
	[ "$(api GET /api/v1/tasks/mine/stream -H "Authorization: Bearer $BOB")" = 404 ]
	[ "$(api GET /api/v1/tasks/mine/files/0 -H "Authorization: Bearer $BOB")" = 404 ]
	[ "$(api GET /api/v1/tasks/mine/stream)" = 401 ]
	[ "$(api GET /api/v1/tasks/mine/files/0 -H "Authorization: Bearer $ALICE")" = 200 ]
	[ "$(api GET /api/v1/tasks/mine/stream -H "Authorization: Bearer $ALICE")" = 200 ]
	grep -q '^event: completed' body
}

@test "stream: a client that reads nothing does not grow the server's memory" {
	serve --workers 0
	[ "$(api POST /api/v1/tasks --data-binary "$(pyecho big)")" = 201 ]
	# A finished task with a 24 MiB log, more than the kernel's socket buffers hold.
	entry=$(cd "$SP/queue" && echo *.big)
	python3 - "$SP/log/$entry" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    pad = "x" * 200
    for i in range(100000):
        f.write(json.dumps({"type": "progress", "task_id": "big", "timestamp": "2026-11-21T10:00:00.000Z", "percent": i / 1000, "message": pad}) + "\n")
    f.write(json.dumps({"type": "completed", "task_id": "big", "timestamp": "2026-11-21T10:00:01.000Z", "status": "success", "output_files": []}) + "\n")
PY
	mv "$SP/queue/$entry" "$SP/done/$entry"
	rss() { awk '/^VmRSS/ {print $2}' "/proc/$SERVE_PID/status"; }
	before=$(rss)
	# The client asks, then never reads; it reports once the server's RSS has held still for 1 s.
	python3 - "$PORT" "$SERVE_PID" > grown <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.sendall(b"GET /api/v1/tasks/big/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
def rss():
    for line in open("/proc/%s/status" % sys.argv[2]):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
last, still = rss(), 0
while still < 10:
    time.sleep(0.1)
    now = rss()
    still = still + 1 if now == last else 0
    last = now
print(last)
sys.stdout.flush()
time.sleep(30)
PY
	CLIENT_PID=$!
	wait_for -t 30 test -s grown
	# 24 MiB to send: at most the bound (1 MiB) and a read's worth more are held.
	echo "grown by $(( $(cat grown) - before )) KiB" >&2
	[ $(( $(cat grown) - before )) -lt 8192 ]
	[ "$(api GET /health)" = 200 ]
	# A client that reads gets every line.
	curl -sN -m 60 -o all "$URL/api/v1/tasks/big/stream"
	[ "$(grep -c '^event: progress' all)" -eq 100000 ]
	[ "$(grep '^id: ' all | tail -n 1)" = "id: 100001" ]
}

@test "stream: a client that left mid-run resumes with Last-Event-ID: the rest, none twice, none lost" {
	serve
	[ "$(api POST /api/v1/tasks --data-binary "$(pyecho rs ',"mode":"slow","delay":1.5')")" = 201 ]
	# The first client leaves after the first progress event; curl ends on the closed pipe.
	curl -sN -m 20 "$URL/api/v1/tasks/rs/stream" | python3 -c '
import sys
seen = False
for line in sys.stdin:
    sys.stdout.write(line)
    seen = seen or line == "event: progress\n"
    if seen and line == "\n":
        break
' > first || true
	grep -q '^event: progress' first
	last=$(grep '^id: ' first | tail -n 1 | cut -d' ' -f2)
	[ "$(state rs)" != done ]
	curl -sN -m 20 -H "Last-Event-ID: $last" -o rest "$URL/api/v1/tasks/rs/stream"
	[ "$( (events first; events rest) | grep -v '^- ')" = "$(log_events rs)" ]
}

@test "stream: past 64 streams of one task, 503 in the error envelope; room again once one leaves" {
	serve --workers 0
	[ "$(api POST /api/v1/tasks --data-binary "$(pyecho crowd)")" = 201 ]
	# 64 clients, each told 200, held open until the test's end.
	python3 - "$PORT" > held <<'PY' &
import socket, sys, time
socks = []
for i in range(64):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"GET /api/v1/tasks/crowd/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head = b""
    while b"\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 200"), head
    socks.append(s)
print(len(socks))
sys.stdout.flush()
time.sleep(60)
PY
	CLIENT_PID=$!
	wait_for test -s held
	[ "$(cat held)" = 64 ]
	# A HEAD is let in, or not, as a GET is.
	room() { [ "$(curl -s -I -o /dev/null -w '%{http_code}' "$URL/api/v1/tasks/crowd/stream")" = 200 ]; }
	[ "$(api GET /api/v1/tasks/crowd/stream -D headers)" = 503 ]
	run room
	[ "$status" -ne 0 ]
	[ "$(field 'b["error"]["code"]')" = SERVICE_ERROR ]
	grep -qi '^retry-after: 5' headers
	kill "$CLIENT_PID"
	wait "$CLIENT_PID" 2>/dev/null || true
	CLIENT_PID=
	wait_for room
}
