#!/usr/bin/env python3
"""pyfilmeto: a test plugin speaking the Filmeto plugin protocol (JSON-RPC 2.0,
one message per line on stdin/stdout), written the way the Filmeto project's
Python plugins are, with the standard library only.

On start it logs to stderr and sends the `ready` notification with its info.
Requests: execute_task, ping, get_info; notifications: cancel, shutdown.
Closing stdin means shut down. execute_task sends progress and heartbeat
notifications, then by the `mode` parameter:

  echo     write output_dir/out.txt (text, `repeat` lines) and succeed
  fail     answer status "error", error_message "asked to fail"
  crash    write "dying on purpose" to stderr and exit 7 without answering
  slow     take `delay` seconds (a heartbeat every 0.2 s), then echo;
           a cancel for the task meanwhile answers status "cancelled"
  garbage  print a line that is not JSON, and answer nothing
  resources  write the local path of every input resource into out.txt
  env      write the value of the environment variable named by `text`
           ("" when unset) into out.txt (CUDA_VISIBLE_DEVICES under Slurm)
  hog      hold `repeat` MiB of memory, touched, for `delay` seconds, then echo
"""

import json
import os
import select
import sys
import time
from datetime import datetime, timezone

NAME = "pyfilmeto"
VERSION = "1.0.0"
DESCRIPTION = "Echoes text into out.txt; can also fail, crash, stall or talk garbage on purpose"
MODES = ("echo", "fail", "crash", "slow", "garbage", "resources", "env", "hog")
HEARTBEAT_INTERVAL = 0.2

# JSON-RPC error codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601

TIMEOUT = object()  # Lines.next(): nothing arrived in time


class Shutdown(Exception):
    """The host said shutdown, or closed our stdin."""


class Lines:
    """Lines from a file descriptor, with an optional timeout per line.

    sys.stdin's own buffering would hide waiting lines from select(), so
    this reads the descriptor itself.
    """

    def __init__(self, fd):
        self.fd = fd
        self.buf = b""
        self.eof = False

    def next(self, timeout=None):
        """The next line (str, newline removed), None at EOF, or TIMEOUT."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buf:
            if self.eof:
                if self.buf:
                    line, self.buf = self.buf, b""
                    return line.decode("utf-8", "replace")
                return None
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                    return TIMEOUT
            chunk = os.read(self.fd, 65536)
            if not chunk:
                self.eof = True
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")


def now_iso():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def log(message):
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def send(message):
    try:
        sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # The host is gone; nobody is left to tell.
        os._exit(0)


def notify(method, params):
    send({"jsonrpc": "2.0", "method": method, "params": params})


def respond(msg_id, result):
    send({"jsonrpc": "2.0", "result": result, "id": msg_id})


def respond_error(msg_id, code, message, data=None):
    error = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    send({"jsonrpc": "2.0", "error": error, "id": msg_id})


def info():
    return {
        "name": NAME,
        "version": VERSION,
        "description": DESCRIPTION,
        "abilities": ["text2text"],
        "modes": list(MODES),
        "pid": os.getpid(),
    }


class Plugin:
    def __init__(self, fd=0):
        self.lines = Lines(fd)
        self.cancelled = set()  # task ids the host cancelled
        self.deferred = []      # requests that came while a task ran

    # Messages -------------------------------------------------------------

    def parse(self, line):
        """A JSON-RPC message as a dict, or None after answering an error."""
        try:
            msg = json.loads(line)
        except ValueError as e:
            respond_error(None, PARSE_ERROR, "Parse error", str(e))
            return None
        if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0":
            respond_error(msg.get("id") if isinstance(msg, dict) else None,
                          INVALID_REQUEST, "Invalid Request")
            return None
        return msg

    def on_notification(self, method, params, running=None):
        if method == "cancel":
            task_id = params.get("task_id") if isinstance(params, dict) else None
            if task_id is None:
                task_id = running
            if task_id is not None:
                self.cancelled.add(task_id)
                log(f"{NAME}: task '{task_id}' cancelled")
        elif method == "shutdown":
            raise Shutdown()
        # Other notifications are not for us.

    def handle(self, line):
        if not line.strip():
            return
        msg = self.parse(line)
        if msg is None:
            return
        method = msg.get("method")
        params = msg.get("params")
        if method is None:
            return  # a response to nothing we asked: ignore
        if "id" not in msg:
            self.on_notification(method, params)
        elif method == "ping":
            respond(msg["id"], {"status": "pong"})
        elif method == "get_info":
            respond(msg["id"], info())
        elif method == "execute_task":
            self.execute(msg["id"], params if isinstance(params, dict) else {})
        else:
            respond_error(msg["id"], METHOD_NOT_FOUND, "Method not found", {"method": method})

    # Tasks ----------------------------------------------------------------

    def progress(self, task_id, percent, message):
        notify("progress", {
            "task_id": task_id,
            "type": "progress",
            "percent": percent,
            "message": message,
            "timestamp": now_iso(),
            "data": {},
        })

    def heartbeat(self, task_id):
        notify("heartbeat", {"task_id": task_id, "type": "heartbeat", "timestamp": now_iso()})

    def wait(self, task_id, seconds):
        """Sleeps, with heartbeats, still hearing cancel, ping and shutdown.

        Returns False when the task was cancelled meanwhile.
        """
        end = time.monotonic() + seconds
        next_beat = time.monotonic() + HEARTBEAT_INTERVAL
        while time.monotonic() < end:
            if task_id in self.cancelled:
                return False
            line = self.lines.next(max(0.0, min(end, next_beat) - time.monotonic()))
            if line is None:
                raise Shutdown()
            if line is not TIMEOUT:
                self.during_task(task_id, line)
            if time.monotonic() >= next_beat:
                self.heartbeat(task_id)
                next_beat += HEARTBEAT_INTERVAL
        return task_id not in self.cancelled

    def during_task(self, task_id, line):
        msg = self.parse(line) if line.strip() else None
        if msg is None or msg.get("method") is None:
            return
        if "id" not in msg:
            self.on_notification(msg["method"], msg.get("params"), running=task_id)
        elif msg["method"] == "ping":
            respond(msg["id"], {"status": "pong"})
        else:
            self.deferred.append(line)

    def execute(self, msg_id, task):
        start = time.monotonic()
        task_id = str(task.get("task_id", ""))
        params = task.get("parameters") or {}
        text = params.get("text")
        mode = params.get("mode", "echo")

        def result(status, files=(), error_message=""):
            body = {
                "task_id": task_id,
                "status": status,
                "output_files": list(files),
                "execution_time": round(time.monotonic() - start, 3),
            }
            if error_message:
                body["error_message"] = error_message
            respond(msg_id, body)

        try:
            repeat = int(params.get("repeat", 1))
            delay = float(params.get("delay", 0) or 0)
        except (TypeError, ValueError):
            return result("error", error_message="repeat and delay must be numbers")
        if not isinstance(text, str):
            return result("error", error_message="parameter 'text' is required")
        if mode not in MODES:
            return result("error", error_message=f"unknown mode '{mode}'")
        if task_id in self.cancelled:
            return result("cancelled", error_message="cancelled")

        log(f"{NAME}: task '{task_id}': {mode}")
        self.progress(task_id, 0.0, "starting")
        self.heartbeat(task_id)
        self.progress(task_id, 50.0, f"working ({mode})")

        if mode == "crash":
            sys.stderr.write("dying on purpose\n")
            sys.stderr.flush()
            os._exit(7)
        if mode == "garbage":
            sys.stdout.write("this is not json\n")
            sys.stdout.flush()
            return None
        if mode == "fail":
            return result("error", error_message="asked to fail")
        if mode == "slow" and not self.wait(task_id, delay):
            return result("cancelled", error_message="cancelled")
        hog = None
        if mode == "hog":
            hog = bytearray(repeat << 20)
            for i in range(0, len(hog), 4096):
                hog[i] = 1
            if not self.wait(task_id, delay):
                return result("cancelled", error_message="cancelled")

        output_dir = task.get("output_dir") or os.getcwd()
        try:
            os.makedirs(output_dir, exist_ok=True)
            path = os.path.abspath(os.path.join(output_dir, "out.txt"))
            if mode == "resources":
                lines = [str(r.get("data")) for r in task.get("resources") or []]
            elif mode == "env":
                lines = [os.environ.get(text, "")]
            elif mode == "hog":
                lines = [text]
            else:
                lines = [text] * repeat
            with open(path, "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
        except OSError as e:
            return result("error", error_message=f"cannot write out.txt: {e}")
        self.progress(task_id, 100.0, "done")
        return result("success", [path])

    # Main loop ------------------------------------------------------------

    def run(self):
        log(f"{NAME} starting")
        notify("ready", info())
        try:
            while True:
                line = self.deferred.pop(0) if self.deferred else self.lines.next()
                if line is None:
                    break
                self.handle(line)
        except Shutdown:
            pass
        log(f"{NAME} exiting")
        return 0


if __name__ == "__main__":
    sys.exit(Plugin(sys.stdin.fileno()).run())
