#!/usr/bin/env python3
"""hostkill: a test plugin whose every task kills the worker running it.

It speaks just enough of the plugin protocol (JSON-RPC 2.0, one message a
line) to be started and given a task. On execute_task it sends SIGKILL to
its parent, if that is a filmeto-run, and exits: the task never ends, and
the worker dies without a word, as one that a task crashes would.
"""

import json
import os
import signal
import sys


def send(msg):
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


def parent_is_worker(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip() == "filmeto-run"
    except OSError:
        return False


def main():
    send({"jsonrpc": "2.0", "method": "ready",
          "params": {"name": "hostkill", "version": "1.0.0"}})
    for line in sys.stdin:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        method, msg_id = msg.get("method"), msg.get("id")
        if method == "execute_task":
            parent = os.getppid()
            # Never anything but the worker: a test run elsewhere stays safe.
            if parent_is_worker(parent):
                os.kill(parent, signal.SIGKILL)
                os._exit(0)
            send({"jsonrpc": "2.0", "id": msg_id,
                  "result": {"status": "error", "error_message": "not under filmeto-run"}})
        elif method == "ping":
            send({"jsonrpc": "2.0", "id": msg_id, "result": {"status": "pong"}})
        elif method == "shutdown":
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
