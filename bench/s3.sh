#!/bin/sh
# Uploads to object storage against Debian's s3cmd and awscli (`aws s3
# cp`, when installed), all to one local s3rver (tests/node_modules,
# make node-deps), wall clock:
#   1. one 1 GiB film: filmeto-run --upload of a task whose output is
#      the film (its plugin only hard-links it into place, so the task
#      itself costs nothing), against `s3cmd put` and `aws s3 cp`;
#   2. 1,000 outputs of 64 KiB: 1,000 such tasks through filmeto-run -j 4
#      --upload, against `s3cmd put --recursive` and `aws s3 cp
#      --recursive` of the same files.
# Each client runs with its defaults (awscli: 8 MiB parts, 10 requests
# at once). filmeto-run is also timed without --upload, to show what the
# run itself costs. The cache is off (--no-cache): a 1 GiB output would
# be copied into it. Reports each wall time and the ratios filmeto/s3cmd
# and filmeto/aws.
set -eu
N=${N:-1000}
SIZE_MB=${SIZE_MB:-1024}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PATH="$ROOT/cmd:$PATH"
S3RVER="$ROOT/tests/node_modules/.bin/s3rver"
work=$(mktemp -d)
srv=
trap '[ -z "$srv" ] || kill "$srv" 2>/dev/null; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM HUP

command -v s3cmd >/dev/null || { echo "s3.sh: s3cmd is not installed (make bench installs it)" >&2; exit 1; }
# Debian's awscli first: another aws (pip's, pyenv's) may be earlier on PATH.
AWSCLI=${AWSCLI:-$( [ -x /usr/bin/aws ] && echo /usr/bin/aws || command -v aws || true)}
[ -n "$AWSCLI" ] || echo "s3.sh: no awscli (make bench installs it): aws s3 cp is left out" >&2
[ -x "$S3RVER" ] || { echo "s3.sh: no s3rver: run make node-deps" >&2; exit 1; }

now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/s3"
"$S3RVER" -d "$work/s3" -a 127.0.0.1 -p "$port" --silent \
	--configure-bucket fmb --configure-bucket cmdb --configure-bucket awsb >/dev/null 2>&1 &
srv=$!
i=0
until curl -s -o /dev/null "http://127.0.0.1:$port/"; do
	i=$((i + 1)); [ $i -lt 200 ] || { echo "s3.sh: s3rver did not start" >&2; exit 1; }
	sleep 0.05
done

export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_DEFAULT_REGION=us-east-1
export XDG_CACHE_HOME="$work/cache" XDG_CONFIG_HOME="$work/config"
cat >"$work/s3cfg" <<EOF
[default]
access_key = S3RVER
secret_key = S3RVER
host_base = 127.0.0.1:$port
host_bucket = 127.0.0.1:$port
use_https = False
signature_v2 = False
EOF

# linkout: hard-links its one local_path resource into output_dir.
mkdir -p "$work/plugins/linkout"
cat >"$work/plugins/linkout/plugin.yaml" <<'EOF'
name: linkout
version: 1.0.0
description: Hard-links its input into its output folder (benchmarks)
command: [python3, main.py]
concurrency: 1
tools:
  - name: linkout
    parameters: []
EOF
cat >"$work/plugins/linkout/main.py" <<'EOF'
import json, os, sys
def send(m):
    sys.stdout.write(json.dumps(m) + "\n"); sys.stdout.flush()
send({"jsonrpc": "2.0", "method": "ready", "params": {"name": "linkout", "version": "1.0.0"}})
for line in sys.stdin:
    m = json.loads(line)
    if m.get("method") != "execute_task":
        if "id" in m:
            send({"jsonrpc": "2.0", "id": m["id"], "result": {"status": "pong"}})
        continue
    t = m["params"]
    src = t["resources"][0]["data"]
    os.makedirs(t["output_dir"], exist_ok=True)
    dst = os.path.join(t["output_dir"], os.path.basename(src))
    os.link(src, dst)
    send({"jsonrpc": "2.0", "id": m["id"], "result": {"status": "success", "output_files": [dst]}})
EOF
export FILMETO_PLUGIN_PATH="$work/plugins"

task() { # ID FILE
	printf '{"type":"task","task_id":"%s","tool_name":"linkout","plugin_name":"linkout","parameters":{},"resources":[{"type":"local_path","data":"%s"}]}\n' "$1" "$2"
}

ratio() { echo "$1 $2" | awk '{printf "%.2f", $1 / $2}'; }

report() { # WHAT FILMETO_MS S3CMD_MS BARE_MS [AWS_MS]
	echo "$1: filmeto $2 ms (the run alone $4 ms), s3cmd $3 ms, ratio $(ratio "$2" "$3")"
	[ -z "${5:-}" ] || echo "$1: filmeto $2 ms, aws s3 cp $5 ms, ratio $(ratio "$2" "$5")"
}

# awscp ARGS...: `aws s3 cp` quietly, or nothing when there is no awscli.
# Debian 12's awscli (2.9) predates AWS_ENDPOINT_URL: the endpoint is an option.
awscp() { [ -z "$AWSCLI" ] || "$AWSCLI" s3 cp --only-show-errors --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }

[ -z "$AWSCLI" ] || echo "awscli: $("$AWSCLI" --version 2>&1)"

# 1. one large film
head -c $((SIZE_MB * 1024 * 1024)) /dev/urandom >"$work/film.mp4"
task film "$work/film.mp4" >"$work/film.task"
t0=$(now)
filmeto-run --no-cache -d "$work/bare1" "$work/film.task" >/dev/null
t1=$(now)
filmeto-run --no-cache -d "$work/out1" --upload s3://fmb/big/ "$work/film.task" >"$work/film.events"
t2=$(now)
s3cmd -q -c "$work/s3cfg" put "$work/film.mp4" s3://cmdb/big/film.mp4
t3=$(now)
awscp "$work/film.mp4" s3://awsb/big/film.mp4
t4=$(now)
grep -q '"type":"completed"' "$work/film.events" || { echo "s3.sh: the film upload failed" >&2; tail -1 "$work/film.events" >&2; exit 1; }
report "${SIZE_MB} MiB film" "$(ms "$t1" "$t2")" "$(ms "$t2" "$t3")" "$(ms "$t0" "$t1")" \
	"${AWSCLI:+$(ms "$t3" "$t4")}"
rm -f "$work/film.mp4"
rm -rf "$work/out1" "$work/bare1" "$work/s3/fmb/big" "$work/s3/cmdb/big" "$work/s3/awsb/big"

# 2. many small outputs
mkdir -p "$work/small"
i=1
while [ $i -le "$N" ]; do
	head -c 65536 /dev/urandom >"$work/small/$i.png"
	task "t$i" "$work/small/$i.png"
	i=$((i + 1))
done >"$work/small.tasks"
t0=$(now)
filmeto-run --no-cache -j 4 -d "$work/bare2" "$work/small.tasks" >/dev/null
t1=$(now)
filmeto-run --no-cache -j 4 -d "$work/out2" --upload s3://fmb/small/ "$work/small.tasks" >"$work/small.events"
t2=$(now)
s3cmd -q -c "$work/s3cfg" put --recursive "$work/small/" s3://cmdb/small/
t3=$(now)
awscp --recursive "$work/small/" s3://awsb/small/
t4=$(now)
[ "$(grep -c '"type":"completed"' "$work/small.events")" -eq "$N" ] ||
	{ echo "s3.sh: not every small upload completed" >&2; exit 1; }
report "$N outputs of 64 KiB" "$(ms "$t1" "$t2")" "$(ms "$t2" "$t3")" "$(ms "$t0" "$t1")" \
	"${AWSCLI:+$(ms "$t3" "$t4")}"
