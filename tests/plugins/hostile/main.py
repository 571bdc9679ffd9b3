#!/usr/bin/env python3
"""hostile: a plugin that does to its host what a careless or hostile one
would, one mode per attack.

  ok          write out.txt and succeed (the baseline)
  exitleak    start `sleep 1000` holding our stdout, then exit 3 mid-task
  daemon      double-fork a setsid daemon (`sleep 1000`, its pid in
              output_dir/daemon.pid), then succeed
  daemonslow  the same, then heartbeat for `delay` seconds before success
  absolute    name `text`, a file outside the task's folder, as output
  dotdot      write ../../dotdot.txt beside the output folder, name it so
  symlink     name a symbolic link in the folder that points to `text`
  linkdir     name sub/NAME where sub is a link to `text`'s directory
  fifo        name a FIFO in the folder
  directory   name a directory in the folder
  alive       report the state of the process whose pid is in the file
              `text`: "gone", or its state letter (Z: a zombie)
  environ     report which of the comma-separated values in `text` show
              in /proc/$PPID/environ (the host's) and /proc/self/environ,
              the filmeto processes (by name) whose environ shows one,
              and the names of the variables we were given
"""

import json
import os
import subprocess
import sys
import time


def send(msg):
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


def result(msg_id, task_id, files=(), **extra):
    body = {"task_id": task_id, "status": "success", "output_files": list(files)}
    body.update(extra)
    send({"jsonrpc": "2.0", "id": msg_id, "result": body})


def daemon(out_dir):
    """The classic double fork: the daemon is nobody's child but init's."""
    pidfile = os.path.join(out_dir, "daemon.pid")
    child = os.fork()
    if child == 0:
        os.setsid()
        if os.fork() == 0:
            with open(pidfile + ".tmp", "w") as f:
                f.write(str(os.getpid()))
            os.rename(pidfile + ".tmp", pidfile)
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.execvp("sleep", ["sleep", "1000"])
        os._exit(0)
    os.waitpid(child, 0)
    while not os.path.exists(pidfile):
        time.sleep(0.01)


def found(path, needles):
    try:
        with open(path, "rb") as f:
            block = f.read()
    except OSError as e:
        return "unreadable: " + e.strerror
    return [n for n in needles if n.encode() in block]


def filmeto_leaks(needles):
    """The filmeto-* processes of the machine whose environ shows a needle."""
    leaks = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/comm" % pid) as f:
                comm = f.read().strip()
        except OSError:
            continue
        hits = found("/proc/%s/environ" % pid, needles) if comm.startswith("filmeto-") else []
        # Unreadable (another user's, or not dumpable) is no leak.
        if isinstance(hits, list) and hits:
            leaks.append(comm)
    return sorted(leaks)


def execute(msg_id, task):
    mode = task["parameters"]["mode"]
    text = task["parameters"].get("text", "")
    tid = task["task_id"]
    out = task["output_dir"]
    os.makedirs(out, exist_ok=True)
    send({"jsonrpc": "2.0", "method": "progress", "params": {"task_id": tid, "percent": 10}})
    if mode == "ok":
        with open(os.path.join(out, "out.txt"), "w") as f:
            f.write("fine\n")
        result(msg_id, tid, ["out.txt"])
    elif mode == "exitleak":
        subprocess.Popen(["sleep", "1000"], stdin=subprocess.DEVNULL)
        os._exit(3)
    elif mode in ("daemon", "daemonslow"):
        daemon(out)
        end = time.monotonic() + (task["parameters"].get("delay", 0) if mode == "daemonslow" else 0)
        while time.monotonic() < end:
            send({"jsonrpc": "2.0", "method": "heartbeat", "params": {"task_id": tid}})
            time.sleep(0.2)
        result(msg_id, tid, [os.path.join(out, "daemon.pid")])
    elif mode == "absolute":
        result(msg_id, tid, [text])
    elif mode == "dotdot":
        with open(os.path.join(out, "..", "..", "dotdot.txt"), "w") as f:
            f.write("escaped\n")
        result(msg_id, tid, ["../../dotdot.txt"])
    elif mode == "symlink":
        os.symlink(text, os.path.join(out, "link"))
        result(msg_id, tid, ["link"])
    elif mode == "linkdir":
        os.symlink(os.path.dirname(text), os.path.join(out, "sub"))
        result(msg_id, tid, [os.path.join("sub", os.path.basename(text))])
    elif mode == "fifo":
        os.mkfifo(os.path.join(out, "fifo"))
        result(msg_id, tid, ["fifo"])
    elif mode == "directory":
        os.mkdir(os.path.join(out, "dir"))
        result(msg_id, tid, ["dir"])
    elif mode == "alive":
        with open(text) as f:
            pid = f.read().strip()
        try:
            with open("/proc/%s/stat" % pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            state = "gone"
        result(msg_id, tid, [], metadata={"daemon": state})
    elif mode == "environ":
        needles = [n for n in text.split(",") if n]
        report = {
            "parent": found("/proc/%d/environ" % os.getppid(), needles),
            "self": found("/proc/self/environ", needles),
            "filmeto": filmeto_leaks(needles),
            "env": sorted(os.environ),
        }
        with open(os.path.join(out, "report.json"), "w") as f:
            json.dump(report, f)
        result(msg_id, tid, ["report.json"], metadata=report)
    elif mode in ("echokey", "echokeyfail"):
        # A careless plugin repeats the key it was given everywhere it
        # can: its log, a progress message spelled with JSON escapes, its
        # result's metadata, a file it names, its error.
        key = os.environ.get("FM_TEST_DECLARED_KEY", "")
        escaped = "".join("\\u%04x" % ord(c) for c in key)
        sys.stderr.write("using key %s\n" % key)
        sys.stderr.flush()
        sys.stdout.write('{"jsonrpc":"2.0","method":"progress","params":{"task_id":"%s","percent":50,"message":"key %s"}}\n' % (tid, escaped))
        sys.stdout.flush()
        if mode == "echokeyfail":
            send({"jsonrpc": "2.0", "id": msg_id, "result": {"task_id": tid, "status": "error", "error_message": "bad key " + key}})
        else:
            result(msg_id, tid, [], metadata={"echo": key, "nested": {key: [key + "!"]}})


def main():
    send({"jsonrpc": "2.0", "method": "ready", "params": {"name": "hostile", "version": "1.0.0"}})
    for line in sys.stdin:
        msg = json.loads(line)
        if msg.get("method") == "execute_task":
            execute(msg["id"], msg["params"])
        elif msg.get("method") == "shutdown":
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
