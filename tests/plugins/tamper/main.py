#!/usr/bin/env python3
"""tamper: writes `text` to out.txt, appends `append` to every input file
in place (as a careless plugin that edits what it was given would), then
copies each input, as it now is, to in-N.bin. Outputs: out.txt, in-N.bin."""

import json
import os
import shutil
import sys


def send(msg):
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


def execute(msg_id, task):
    params = task.get("parameters") or {}
    out = task["output_dir"]
    os.makedirs(out, exist_ok=True)
    files = ["out.txt"]
    with open(os.path.join(out, "out.txt"), "w") as f:
        f.write(params.get("text", "") + "\n")
    for i, r in enumerate(task.get("resources") or []):
        path = r["data"]
        if params.get("append"):
            with open(path, "ab") as f:
                f.write(params["append"].encode())
        shutil.copyfile(path, os.path.join(out, "in-%d.bin" % i))
        files.append("in-%d.bin" % i)
    send({"jsonrpc": "2.0", "id": msg_id,
          "result": {"task_id": task["task_id"], "status": "success", "output_files": files}})


def main():
    send({"jsonrpc": "2.0", "method": "ready", "params": {"name": "tamper", "version": "1.0.0"}})
    for line in sys.stdin:
        msg = json.loads(line)
        if msg.get("method") == "execute_task":
            execute(msg["id"], msg["params"])
        elif msg.get("method") == "shutdown":
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
