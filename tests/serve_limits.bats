#!/usr/bin/env bats
# filmeto-serve against hostile clients, over real loopback: bodies and
# heads too large, paths that walk, wrong keys, foreign origins, idle
# and slow connections by the thousand (tests/serve_limits.py drives
# the raw sockets). FILMETO_SERVE_TIMEOUT shortens the idle timeout and
# the request deadline (twice it) so the drops are seen in seconds.

load test_helper
load serve_helper

setup() {
	serve_setup
}

teardown() {
	serve_teardown
}

KEY=0123456789abcdef0123456789abcdef
keyfile() {
	printf 'alice %s admin\n' "$KEY" >keys
	chmod 600 keys
}

# alive: the server still answers /health.
alive() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$URL/health")" = 200 ]; }

# hostile CMD ARGS...: tests/serve_limits.py against the server; NAME VALUE lines.
hostile() { python3 "$ROOT/tests/serve_limits.py" "$1" "$PORT" "${@:2}" >out; }
val() { awk -v k="$1" '$1 == k { print $2 }' out; }

@test "--cors: in --help; a malformed origin is a usage error" {
	run filmeto-serve --help
	[[ "$output" == *"--cors ORIGIN"* ]]
	for bad in localhost:5173 http://localhost:5173/ 'http://a b' ftp://x http://x:0 \
		http://x:65536 'http://user@x' http:// 'http://[::1' null; do
		run filmeto-serve --workers 0 --cors "$bad"
		[ "$status" -eq 2 ]
		[[ "$output" == *"--cors"* ]]
	done
}

@test "--cors: an allowed origin is told so, a foreign one is 403, the server's own page passes, preflights are answered" {
	serve --workers 0 --cors http://localhost:5173 --cors 'HTTPS://[::1]:8443'
	[ "$(api GET /health -H 'Origin: http://localhost:5173' -D headers)" = 200 ]
	grep -qi '^Access-Control-Allow-Origin: http://localhost:5173' headers
	grep -qi '^Vary: Origin' headers
	[ "$(api GET /api/v1/tasks -H 'Origin: https://[::1]:8443' -D headers)" = 200 ]
	grep -qi '^Access-Control-Allow-Origin: https://\[::1\]:8443' headers
	# Foreign: refused in the error envelope, and nothing is queued.
	[ "$(api POST /api/v1/tasks -H 'Origin: http://evil.example' -d '{"task_id":"x","tool_name":"noop","plugin_name":"noop"}' -D headers)" = 403 ]
	[ "$(field 'b["error"]["code"]')" = VALIDATION_ERROR ]
	! grep -qi '^Access-Control-Allow-Origin' headers
	[ ! -e "$FILMETO_SPOOL/queue/x.json" ]
	[ "$(api GET /health -H 'Origin: http://localhost:5174')" = 403 ]
	[ "$(api GET /health -H 'Origin: null')" = 403 ]
	# The server's own origin (its Host): its page's requests pass.
	[ "$(api GET /health -H "Origin: http://127.0.0.1:$PORT" -D headers)" = 200 ]
	! grep -qi '^Access-Control-Allow-Origin' headers
	# Preflight: 204, methods, headers with Authorization, a max age; no key needed.
	[ "$(api OPTIONS /api/v1/tasks -H 'Origin: http://localhost:5173' -H 'Access-Control-Request-Method: POST' -D headers)" = 204 ]
	grep -qi '^Access-Control-Allow-Origin: http://localhost:5173' headers
	grep -qi '^Access-Control-Allow-Methods: GET, POST' headers
	grep -qi '^Access-Control-Allow-Headers: .*Authorization' headers
	grep -qi '^Access-Control-Max-Age: [0-9]' headers
	[ "$(api OPTIONS /api/v1/tasks -H 'Origin: http://evil.example')" = 403 ]
	[ "$(api OPTIONS /nowhere -H 'Origin: http://localhost:5173')" = 404 ]
}

@test "without keys a Host that names no loopback address is refused (DNS rebinding); with keys it is served" {
	serve --workers 0
	[ "$(api GET /health -H "Host: rebind.evil.example:$PORT")" = 403 ]
	[[ "$(field 'b["error"]["message"]')" == *"loopback"* ]]
	[ "$(api POST /api/v1/tasks -H "Host: rebind.evil.example:$PORT" -H "Origin: http://rebind.evil.example:$PORT" \
		--data-binary '{"task_id":"r1","tool_name":"noop","plugin_name":"noop"}')" = 403 ]
	[ ! -e "$FILMETO_SPOOL/queue" ] || [ -z "$(ls "$FILMETO_SPOOL/queue")" ]
	[ "$(api GET /health -H "Host: localhost:$PORT")" = 200 ]
	[ "$(api GET /health -H "Host: [::1]:$PORT")" = 200 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://localhost:$PORT/health")" = 200 ]
	kill -TERM "$SERVE_PID"
	wait "$SERVE_PID" || true
	printf 'alice %s\n' "$KEY" >keys
	chmod 600 keys
	serve --workers 0 --key-file keys
	[ "$(api GET /api/v1/tasks -H "Host: films.example" -H "Authorization: Bearer $KEY")" = 200 ]
}

@test "without --cors every foreign origin is refused; requests without Origin are not concerned" {
	serve --workers 0
	[ "$(api GET /health -H 'Origin: http://localhost:5173')" = 403 ]
	[ "$(api GET /api/v1/tasks)" = 200 ]
	[ "$(api OPTIONS /api/v1/tasks -D headers)" = 204 ]
	grep -qi '^Allow: GET, POST' headers
}

@test "a 100 MB body is 413 at once and unread, in the error envelope; the server answers on" {
	serve --workers 0
	head -c 100000000 /dev/zero >big
	[ "$(curl -s -o body -w '%{http_code}' --max-time 5 -X POST --data-binary @big "$URL/api/v1/tasks")" = 413 ]
	[ "$(field 'b["error"]["code"]')" = VALIDATION_ERROR ]
	[[ "$(field 'b["error"]["message"]')" == *"64 MiB"* ]]
	alive
	[ "$(awk '/^VmRSS/ { print $2 }' "/proc/$SERVE_PID/status")" -lt 65536 ]
}

@test "a body framed two ways (Content-Lengths that differ, or one beside chunked) is 400 before it is read: no request smuggled in it" {
	serve --workers 0
	# One answer, 400: the GET inside the body is never read as a request.
	hostile smuggle "Content-Length: 2" "Content-Length: 47"
	[ "$(cat out)" = "status 400" ]
	hostile smuggle "Transfer-Encoding: chunked" "Content-Length: 2"
	[ "$(cat out)" = "status 400" ]
	# The same length twice is one framing: read as one length is ({} is 422).
	hostile smuggle "Content-Length: 2"
	cp out one
	hostile smuggle "Content-Length: 2" "Content-Length: 2"
	[ "$(head -1 out)" = "status 422" ]
	cmp out one
	alive
}

@test "keys: wrong key and key in the query are 401; without a right key a large body is refused unread, with one it is read" {
	keyfile
	serve --workers 0 --key-file keys
	[ "$(api GET /api/v1/tasks -H 'Authorization: Bearer wrongwrongwrongwrong')" = 401 ]
	[ "$(field 'b["error"]["code"]')" = VALIDATION_ERROR ]
	[ "$(api GET "/api/v1/tasks?api_key=$KEY")" = 401 ]
	[ "$(api GET "/api/v1/tasks?api_key=$KEY" -H "Authorization: Bearer $KEY")" = 401 ]
	! grep -q "$KEY" body
	# A small body without a key: read, and 401 in the envelope.
	[ "$(api POST /api/v1/tasks -d '{}')" = 401 ]
	# 10 MB without a right key: refused before it is read (401 in the
	# envelope; chunked, evhttp's 413 past 64 KiB); with the key, read (not JSON: 400).
	head -c 10000000 /dev/zero >ten
	[ "$(curl -s -o body -w '%{http_code}' -X POST --data-binary @ten "$URL/api/v1/tasks")" = 401 ]
	[ "$(field 'b["error"]["code"]')" = VALIDATION_ERROR ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Authorization: Bearer wrongwrongwrongwrong' --data-binary @ten "$URL/api/v1/tasks")" = 401 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Transfer-Encoding: chunked' --data-binary @ten "$URL/api/v1/tasks")" = 413 ]
	[ "$(curl -s -o body -w '%{http_code}' -X POST -H "Authorization: Bearer $KEY" --data-binary @ten "$URL/api/v1/tasks")" = 400 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization:   Bearer $KEY  " --data-binary @ten "$URL/api/v1/tasks")" = 400 ]
	# A head that arrives a few bytes at a time is looked at whole.
	hostile trickle "$KEY"
	[ "$(val status)" = 400 ]
	hostile trickle -
	[ "$(val status)" = 401 ]
	alive
}

@test "a header flood: too many header lines are 431 before evhttp holds them; a huge header or request line is 400; the server answers on" {
	serve --workers 0
	local many=() some=()
	for i in $(seq 3000); do many+=(-H "X-Flood-$i: y"); done
	for i in $(seq 90); do some+=(-H "X-Flood-$i: y"); done
	[ "$(curl -s -o body -w '%{http_code}' "${many[@]}" "$URL/health")" = 431 ]
	[ "$(field 'b["error"]["code"]')" = VALIDATION_ERROR ]
	# Within the bound they are fine.
	[ "$(curl -s -o /dev/null -w '%{http_code}' "${some[@]}" "$URL/health")" = 200 ]
	python3 -c 'print("X-Big: " + "a" * 100000)' >hdr
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H @hdr "$URL/health")" = 400 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/$(python3 -c 'print("a" * 20000)')")" = 400 ]
	# 500 connections of 4,000 tiny lines each: refused, and the memory stays put
	# (without the line bound evhttp held some 460 KiB for each).
	hostile flood "$SERVE_PID" 500
	cat out
	[ "$(val answered_431)" = 500 ]
	[ $(($(val rss_after) - $(val rss_before))) -lt 16384 ]
	alive
}

@test "paths with .., %2e%2e and %2f: 404 or 400, never a file outside" {
	serve --workers 0
	for p in /../../../../etc/passwd /api/v1/tasks/../../../../etc/passwd \
		/%2e%2e/%2e%2e/etc/passwd /api/v1/tasks/%2e%2e/files/0 \
		/api/v1/tasks/a%2f..%2f..%2fetc/files/0 /api/v1/tasks/x/files/..%2f..%2fetc%2fpasswd \
		/api/v1/tasks/x/files/../../../../etc/passwd /static/../../etc/passwd; do
		code=$(api GET "$p" --path-as-is)
		[[ "$code" = 404 || "$code" = 400 ]]
		! grep -q 'root:' body
	done
	# A Range past the end (416) is in serve.bats, with a real output file.
}

@test "2,000 idle connections: /health answers at once, they are closed after the idle timeout, and descriptors and memory come back" {
	FILMETO_SERVE_TIMEOUT=2 serve --workers 0
	hostile idle "$SERVE_PID" 2000
	cat out
	[ "$(val fds_open)" -ge $(($(val fds_before) + 2000)) ]
	# Promptly: well under the idle timeout.
	python3 -c 'import sys; sys.exit(not 0 <= float(sys.argv[1]) < 0.5)' "$(val health_s)"
	[ "$(val closed)" = 2000 ]
	python3 -c 'import sys; sys.exit(not 1.5 <= float(sys.argv[1]) < 6)' "$(val closed_by_s)"
	[ "$(val fds_after)" -le $(($(val fds_before) + 2)) ]
	# Each idle connection costs a few KiB at most.
	[ $(($(val rss_open) - $(val rss_before))) -lt 16384 ]
	alive
}

@test "a slowloris client is dropped by the request deadline; a client asking in time is not" {
	FILMETO_SERVE_TIMEOUT=1 serve --workers 0
	# A header byte every 0.3 s keeps the idle timeout away, not the 2 s deadline.
	hostile slow 0.3
	cat out
	python3 -c 'import sys; sys.exit(not 1.9 <= float(sys.argv[1]) < 4.5)' "$(val dropped_after_s)"
	# Six requests 0.6 s apart on one connection: 3.6 s, each in time.
	hostile keepalive 6 0.6
	[ "$(val answered)" = 6 ]
	alive
}

@test "past 4096 connections the rest wait, and get in as ones end" {
	FILMETO_SERVE_TIMEOUT=10 serve --workers 0
	hostile cap 4150
	cat out
	[ "$(val answered)" = 4096 ]
	[ "$(val then)" = 10 ]
	alive
}

@test "large bodies arriving at once are bounded in all: past 256 MiB declared, 503 before it is read" {
	serve --workers 0
	python3 - "$PORT" <<'PY'
import socket, sys
port = int(sys.argv[1])
mib = 60 * 1024 * 1024
head = ("POST /api/v1/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: %d\r\n\r\n" % mib).encode()
held = []
for i in range(4):  # 240 MiB declared: each is let in and read on
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(head + b"[" + b" " * 65536)
    held.append(s)
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(10)
s.sendall(head + b"[")
answer = b""
while b"\r\n\r\n" not in answer:
    got = s.recv(4096)
    if not got:
        break
    answer += got
assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
assert b"Retry-After: 1" in answer, answer
for h in held:
    h.close()
PY
	# The four gone, their share is free again: a body is read and answered.
	wait_for eval '[ "$(api POST /api/v1/tasks --data-binary "$(printf "{\"task_id\":\"after\",\"tool_name\":\"noop\",\"plugin_name\":\"noop\"}")")" = 201 ]'
}

@test "a key that is not admin fetches remote_url only from public addresses: the server itself, by address or name, fails the task; an admin's same task fetches it" {
	printf 'bob %s\nroot %s admin\n' "$KEY" "${KEY}ff" >keys
	chmod 600 keys
	serve --key-file keys --workers 1
	task() { # ID URL: a noop task with one remote_url
		printf '{"task_id":"%s","tool_name":"noop","plugin_name":"noop","resources":[{"type":"remote_url","data":"%s","metadata":{"fetch":"any"}}]}' "$1" "$2"
	}
	[ "$(api POST /api/v1/tasks -H "Authorization: Bearer $KEY" --data-binary "$(task ip "$URL/health")")" = 201 ]
	[ "$(api POST /api/v1/tasks -H "Authorization: Bearer $KEY" --data-binary "$(task name "http://localhost:$PORT/health")")" = 201 ]
	[ "$(api POST /api/v1/tasks -H "Authorization: Bearer ${KEY}ff" --data-binary "$(task adm "$URL/health")")" = 201 ]
	# What the client wrote there is replaced for bob, kept for the admin.
	# (a worker may move the file as it is read: read again then)
	wait_for eval 'grep -qs "\"fetch\":\"public\"" "$SP"/*/*.ip'
	wait_for eval 'grep -qs "\"fetch\":\"any\"" "$SP"/*/*.adm'
	wait_for eval '[ "$(state ip -H "Authorization: Bearer $KEY")" = failed ]'
	wait_for eval '[ "$(state name -H "Authorization: Bearer $KEY")" = failed ]'
	wait_for eval '[ "$(state adm -H "Authorization: Bearer ${KEY}ff")" = done ]'
	[ "$(api GET /api/v1/tasks/ip -H "Authorization: Bearer $KEY")" = 200 ]
	[ "$(field 'b["result"]["error"]["code"]')" = RESOURCE_PROCESSING_ERROR ]
	[[ "$(field 'b["result"]["error"]["message"]')" == *"127.0.0.1 is a loopback address, and this task may fetch only from public addresses"* ]]
	[ "$(api GET /api/v1/tasks/name -H "Authorization: Bearer $KEY")" = 200 ]
	[[ "$(field 'b["result"]["error"]["message"]')" == *"is a loopback address"* ]]
	# The admin's download is cached; bob's restricted fetch does not take it from there.
	ls "$XDG_CACHE_HOME"/filmeto/downloads/*.bin
	[ "$(api POST /api/v1/tasks -H "Authorization: Bearer $KEY" --data-binary "$(task again "$URL/health")")" = 201 ]
	wait_for eval '[ "$(state again -H "Authorization: Bearer $KEY")" = failed ]'
	[ "$(api GET /api/v1/tasks/again -H "Authorization: Bearer $KEY")" = 200 ]
	[[ "$(field 'b["result"]["error"]["message"]')" == *"127.0.0.1 is a loopback address"* ]]
	[ -z "$(ls "$XDG_CACHE_HOME"/filmeto/downloads/public)" ]
}

@test "the output cache is shared only among one key's tasks: another key's same task is rendered anew, the same key's is answered from it" {
	printf 'alice %s\nbob %s\n' "$KEY" "${KEY}bb" >keys
	chmod 600 keys
	export FILMETO_PLUGIN_PATH="$ROOT/plugins"
	serve --key-file keys --workers 1
	card() { printf '{"task_id":"%s","tool_name":"text2image","plugin_name":"titlecard","parameters":{"prompt":"a secret plot twist"}}' "$1"; }
	cached() { # ID KEY: the final line's metadata.cached, null when absent
		api GET "/api/v1/tasks/$1" -H "Authorization: Bearer $2" >/dev/null
		field 'b["result"]["metadata"].get("cached")'
	}
	[ "$(api POST /api/v1/tasks -H "Authorization: Bearer $KEY" --data-binary "$(card a1)")" = 201 ]
	wait_for eval '[ "$(state a1 -H "Authorization: Bearer $KEY")" = done ]'
	[ "$(api POST /api/v1/tasks -H "Authorization: Bearer ${KEY}bb" --data-binary "$(card b1)")" = 201 ]
	[ "$(api POST /api/v1/tasks -H "Authorization: Bearer $KEY" --data-binary "$(card a2)")" = 201 ]
	wait_for eval '[ "$(state b1 -H "Authorization: Bearer ${KEY}bb")" = done ]'
	wait_for eval '[ "$(state a2 -H "Authorization: Bearer $KEY")" = done ]'
	[ "$(cached a1 "$KEY")" = null ]
	[ "$(cached b1 "${KEY}bb")" = null ]
	[ "$(cached a2 "$KEY")" = true ]
}
