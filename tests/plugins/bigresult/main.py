#!/usr/bin/env python3
"""bigresult: answers near and over the 4 MiB line limit, one mode each.

  metadata      success, with metadata {"blob": "x" * size}
  files         success, listing `count` files it wrote (long names)
  details       status error, error.details {"blob": "x" * size}
  rpcerror      a JSON-RPC error whose data is "x" * size
  progress      a progress notification whose message is "x" * size, then success
  progressdata  a progress notification whose data is {"blob": "x" * size}, then success
  stray         a line of size "x" on stdout that is not JSON, then success

Every line it writes itself stays under the 4 MiB limit: a size near it
is what filmeto-run's own fields then push over.
"""

import json
import os
import sys


def send(msg):
    sys.stdout.write(json.dumps(msg, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def result(msg_id, body):
    send({"jsonrpc": "2.0", "id": msg_id, "result": body})


def out_file(task, name="out.txt"):
    path = os.path.join(task["output_dir"], name)
    os.makedirs(task["output_dir"], exist_ok=True)
    with open(path, "w") as f:
        f.write("big\n")
    return path


def execute(msg_id, task):
    p = task["parameters"]
    mode, size, tid = p["mode"], p.get("size", 1024), task["task_id"]
    blob = "x" * size
    if mode == "metadata":
        result(msg_id, {"task_id": tid, "status": "success", "output_files": [out_file(task)],
                        "metadata": {"blob": blob}})
    elif mode == "files":
        names = []
        for i in range(p.get("count", 1)):
            names.append(os.path.basename(out_file(task, "file-%06d-%s.txt" % (i, "n" * 60))))
        result(msg_id, {"task_id": tid, "status": "success", "output_files": names})
    elif mode == "details":
        result(msg_id, {"task_id": tid, "status": "error", "error_message": "too much detail",
                        "error": {"message": "too much detail", "details": {"blob": blob}}})
    elif mode == "rpcerror":
        send({"jsonrpc": "2.0", "id": msg_id,
              "error": {"code": -32000, "message": "a large error", "data": blob}})
    elif mode in ("progress", "progressdata"):
        params = {"task_id": tid, "percent": 50}
        if mode == "progress":
            params["message"] = blob
        else:
            params["data"] = {"blob": blob}
        send({"jsonrpc": "2.0", "method": "progress", "params": params})
        result(msg_id, {"task_id": tid, "status": "success", "output_files": [out_file(task)]})
    elif mode == "stray":
        sys.stdout.write(blob + "\n")
        sys.stdout.flush()
        result(msg_id, {"task_id": tid, "status": "success", "output_files": [out_file(task)]})


def main():
    send({"jsonrpc": "2.0", "method": "ready", "params": {"name": "bigresult", "version": "1.0.0"}})
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
