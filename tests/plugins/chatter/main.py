#!/usr/bin/env python3
"""chatter: a text2text test plugin whose answer arrives word by word.

For a task it answers "You said: PROMPT": each word (with the space after
it) is one `progress` notification carrying {"delta": WORD} in its data,
`delay` seconds apart; then out.txt holds the whole answer and the task
succeeds. The deltas joined are exactly out.txt's text, so a streamed
chat and a plain one say the same. A cancel notification for the running
task ends it as cancelled between words.
"""

import json
import os
import select
import sys


def send(msg):
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


def notify(method, params):
    send({"jsonrpc": "2.0", "method": method, "params": params})


def cancelled(task_id, timeout):
    """Whether a cancel for task_id comes within timeout seconds."""
    while select.select([sys.stdin], [], [], timeout)[0]:
        line = sys.stdin.readline()
        if not line:
            return True
        msg = json.loads(line)
        if msg.get("method") in ("cancel", "shutdown"):
            return True
        timeout = 0
    return False


def execute(msg_id, task):
    tid = task["task_id"]
    params = task["parameters"]
    words = ("You said: " + params["prompt"]).split(" ")
    pieces = [w + " " for w in words[:-1]] + [words[-1]]
    for i, piece in enumerate(pieces):
        if params.get("delay") and cancelled(tid, params["delay"]):
            send({"jsonrpc": "2.0", "id": msg_id,
                  "result": {"task_id": tid, "status": "cancelled", "output_files": []}})
            return
        notify("progress", {"task_id": tid, "percent": 100.0 * (i + 1) / len(pieces),
                            "message": "word %d" % (i + 1), "data": {"delta": piece}})
    path = os.path.join(task["output_dir"], "out.txt")
    with open(path, "w") as f:
        f.write("".join(pieces))
    send({"jsonrpc": "2.0", "id": msg_id,
          "result": {"task_id": tid, "status": "success", "output_files": [path]}})


def main():
    notify("ready", {"name": "chatter", "version": "1.0.0", "pid": os.getpid()})
    for line in iter(sys.stdin.readline, ""):
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
