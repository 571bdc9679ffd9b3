#!/bin/sh
# 1,000 image requests against the fake OpenAI service
# (tests/fakes/fake_openai.py), in one run, three ways that write the same
# PNG files:
#   1. filmeto-run -j 4 with the openai plugin (task lines in, one pooled
#      plugin process per job slot, one kept-alive connection each);
#   2. the shell loop a user would write: curl | jq | base64 -d per image;
#   3. for reference, the same pipeline run four at a time by xargs -P4.
# The cache is off (--no-cache) so every task reaches the service. The
# fake alone is timed too, with four kept-alive connections, to show it
# is not what is measured. Reports the wall-time ratio filmeto/curl loop.
set -eu
N=${N:-1000}
J=${J:-4}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PATH="$ROOT/cmd:$PATH"
work=$(mktemp -d)
fake=
trap '[ -z "$fake" ] || kill "$fake" 2>/dev/null; rm -rf "$work"' EXIT INT TERM
export XDG_CACHE_HOME="$work/cache" XDG_CONFIG_HOME="$work/config"
export FILMETO_PLUGIN_PATH="$ROOT/plugins"
unset OPENAI_API_KEY OPENAI_BASE_URL

python3 "$ROOT/tests/fakes/fake_openai.py" --port-file "$work/port" --lifetime 3600 </dev/null &
fake=$!
i=0
while [ ! -s "$work/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
URL="http://127.0.0.1:$(cat "$work/port")/v1"
PROMPT='a lighthouse at dusk, take'

now() { date +%s%N; }

awk -v n="$N" -v url="$URL" -v p="$PROMPT" 'BEGIN { for (i = 0; i < n; i++)
	printf "{\"type\":\"task\",\"task_id\":\"img%d\",\"tool_name\":\"text2image\",\"plugin_name\":\"openai\",\"parameters\":{\"prompt\":\"%s %d\",\"endpoint\":\"%s\"}}\n", i, p, i, url }' \
	> "$work/tasks"

# One request as a user would write it: the JSON reply's b64_json to a file.
cat > "$work/one.sh" <<'EOF'
curl -sS --fail -H 'Content-Type: application/json' \
	-d "{\"model\":\"gpt-image-1\",\"prompt\":\"$3 $2\"}" "$1/images/generations" |
	jq -r '.data[0].b64_json' | base64 -d > "$4/img$2.png"
EOF

# The fake on its own: N requests over four kept-alive connections.
fake_alone() {
	python3 - "$URL" "$N" "$PROMPT" <<'PY'
import http.client, json, sys, threading, urllib.parse
url, n, prompt = urllib.parse.urlsplit(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def worker(k):
    c = http.client.HTTPConnection(url.hostname, url.port)
    for i in range(k, n, 4):
        body = json.dumps({"model": "gpt-image-1", "prompt": "%s %d" % (prompt, i)})
        c.request("POST", url.path + "/images/generations", body, {"Content-Type": "application/json"})
        c.getresponse().read()
ts = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
PY
}

# warm up: page cache, the plugin binary, the fake's cached answer
head -n 4 "$work/tasks" | filmeto-run -j "$J" --no-cache -d "$work/warm" > /dev/null
mkdir -p "$work/curl" "$work/xargs"
sh "$work/one.sh" "$URL" 0 "$PROMPT" "$work/curl"

t0=$(now); fake_alone; t1=$(now)
a=$(( (t1 - t0) / 1000 ))
t0=$(now)
filmeto-run -j "$J" --no-cache -d "$work/out" "$work/tasks" > "$work/events"
t1=$(now)
f=$(( (t1 - t0) / 1000 ))
t0=$(now)
i=0
while [ $i -lt "$N" ]; do
	sh "$work/one.sh" "$URL" $i "$PROMPT" "$work/curl"
	i=$((i + 1))
done
t1=$(now)
c=$(( (t1 - t0) / 1000 ))
t0=$(now)
seq 0 $((N - 1)) | xargs -P4 -I{} sh "$work/one.sh" "$URL" {} "$PROMPT" "$work/xargs"
t1=$(now)
x=$(( (t1 - t0) / 1000 ))

# the same files, every one of them
[ "$(grep -c '"type":"completed"' "$work/events")" -eq "$N" ]
i=0
while [ $i -lt "$N" ]; do
	cmp -s "$work/out/img$i/image-1.png" "$work/curl/img$i.png"
	cmp -s "$work/out/img$i/image-1.png" "$work/xargs/img$i.png"
	i=$((i + 1))
done

awk -v n="$N" -v j="$J" -v a="$a" -v f="$f" -v c="$c" -v x="$x" 'BEGIN {
	printf "openai: fake alone (4 kept-alive connections)  %7.0f ms  %6.0f req/s\n", a / 1000, n / (a / 1e6)
	printf "openai: filmeto-run -j %d --no-cache           %7.0f ms  %6.0f img/s  (%d images)\n", j, f / 1000, n / (f / 1e6), n
	printf "openai: shell loop of curl | jq | base64       %7.0f ms  %6.0f img/s\n", c / 1000, n / (c / 1e6)
	printf "openai: xargs -P4 of the same                  %7.0f ms  %6.0f img/s\n", x / 1000, n / (x / 1e6)
	printf "openai: ratio filmeto/curl loop = %.2f (target: <= 0.5)\n", f / c
	printf "openai: ratio filmeto/xargs -P4 = %.2f\n", f / x
}'
