#!/usr/bin/env python3
"""hostsig: a test plugin whose every task signals the worker running it.

On execute_task it sends SIGTERM, SIGINT or SIGHUP (parameter `signal`)
to its parent, if that is a filmeto-run, from itself (`via: self`), from
a child in its process group (`child`) or from a daemon that left the
group with setsid (`daemon`); the sender then lingers, and the plugin
never answers, the way a task that wants its worker gone would act.
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


def is_worker(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip() == "filmeto-run"
    except OSError:
        return False


def attack(worker, sig, via):
    if via == "self":
        os.kill(worker, sig)
    elif via == "child":
        subprocess.Popen(["sh", "-c", f"kill -{sig.name[3:]} {worker}; exec sleep 30"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    else:
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                fd = os.open(os.devnull, os.O_RDWR)
                for i in (0, 1, 2):
                    os.dup2(fd, i)
                os.kill(worker, sig)
                time.sleep(30)
            os._exit(0)
    time.sleep(30)


def main():
    send({"jsonrpc": "2.0", "method": "ready",
          "params": {"name": "hostsig", "version": "1.0.0"}})
    for line in sys.stdin:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        method, msg_id = msg.get("method"), msg.get("id")
        if method == "execute_task":
            params = msg.get("params", {}).get("parameters", {})
            worker = os.getppid()
            # Never anything but the worker: a test run elsewhere stays safe.
            if is_worker(worker):
                attack(worker, signal.Signals["SIG" + params.get("signal", "TERM")],
                       params.get("via", "self"))
            send({"jsonrpc": "2.0", "id": msg_id,
                  "result": {"status": "error", "error_message": "not under filmeto-run"}})
        elif method == "ping":
            send({"jsonrpc": "2.0", "id": msg_id, "result": {"status": "pong"}})
        elif method == "shutdown":
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
