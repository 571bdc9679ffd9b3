#!/usr/bin/env python3
"""chaos: a plugin that fails on purpose, one mode per failure.

  ok           answer success with out.txt
  crash        one progress line, a stderr line, then exit 3 mid-task
  hang         answer nothing, ever (the idle timeout must catch it)
  busy         heartbeats forever, no answer (only the hard cap catches it)
  garbage      a broken JSON line on stdout
  longline     a protocol line longer than 4 MiB
  wrongid      an answer to a request id never sent
  closeout     close stdout and keep running
  ignoreterm   ignore SIGTERM and hang (needs SIGKILL)
  floodstderr  20 MB of stderr, then success
  badpercent   progress of -50 and 250, then success
  orphan       start a grandchild that would outlive us, then crash
  flaky        crash on the first attempt, succeed on the next
  ratelimit    RATE_LIMIT_EXCEEDED on the first attempt, then success
  fail         an ordinary error result (not to be retried)
"""

import json
import os
import signal
import subprocess
import sys
import time


def send(msg):
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


def notify(method, params):
    send({"jsonrpc": "2.0", "method": method, "params": params})


def result(msg_id, task_id, status, files=(), **extra):
    body = {"task_id": task_id, "status": status, "output_files": list(files)}
    body.update(extra)
    send({"jsonrpc": "2.0", "id": msg_id, "result": body})


def success(msg_id, task, text="chaos"):
    path = os.path.join(task["output_dir"], "out.txt")
    with open(path, "w") as f:
        f.write(text + "\n")
    result(msg_id, task["task_id"], "success", [path])


def execute(msg_id, task):
    mode = task["parameters"]["mode"]
    tid = task["task_id"]
    attempt = task.get("attempt", 1)
    notify("progress", {"task_id": tid, "percent": 10, "message": mode})
    if mode == "ok":
        success(msg_id, task)
    elif mode == "crash":
        sys.stderr.write("chaos: crashing on purpose\n")
        sys.stderr.flush()
        os._exit(3)
    elif mode == "hang":
        time.sleep(3600)
    elif mode == "busy":
        while True:
            notify("heartbeat", {"task_id": tid})
            time.sleep(0.2)
    elif mode == "garbage":
        sys.stdout.write('{"jsonrpc": "2.0", "result": oops\n')
        sys.stdout.flush()
        time.sleep(3600)
    elif mode == "longline":
        sys.stdout.write('{"jsonrpc":"2.0","method":"progress","params":{"message":"')
        sys.stdout.write("x" * (5 << 20))
        sys.stdout.write('"}}\n')
        sys.stdout.flush()
        time.sleep(3600)
    elif mode == "wrongid":
        result(msg_id + 1000, tid, "success")
        time.sleep(3600)
    elif mode == "closeout":
        sys.stdout.flush()
        os.close(1)
        time.sleep(3600)
    elif mode == "ignoreterm":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(3600)
    elif mode == "floodstderr":
        line = "chaos: " + "e" * 200 + "\n"
        for _ in range(100000):
            sys.stderr.write(line)
        sys.stderr.flush()
        success(msg_id, task)
    elif mode == "badpercent":
        notify("progress", {"task_id": tid, "percent": -50, "message": "below"})
        notify("progress", {"task_id": tid, "percent": 250, "message": "above"})
        success(msg_id, task)
    elif mode == "orphan":
        subprocess.Popen(["sleep", "300"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os._exit(4)
    elif mode == "flaky":
        if attempt < 2:
            os._exit(5)
        success(msg_id, task, "second time lucky")
    elif mode == "ratelimit":
        if attempt < 2:
            result(msg_id, tid, "error", error_message="slow down",
                   error={"code": "RATE_LIMIT_EXCEEDED", "message": "slow down"})
        else:
            success(msg_id, task, "after the rate limit")
    elif mode == "fail":
        result(msg_id, tid, "error", error_message="an ordinary failure")


def main():
    notify("ready", {"name": "chaos", "version": "1.0.0", "pid": os.getpid()})
    for line in sys.stdin:
        msg = json.loads(line)
        method = msg.get("method")
        if method == "execute_task":
            execute(msg["id"], msg["params"])
        elif method == "ping":
            send({"jsonrpc": "2.0", "id": msg["id"], "result": {"status": "pong"}})
        elif method == "shutdown":
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
