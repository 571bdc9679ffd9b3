"""filmeto_plugin: write a filmeto plugin in Python, with the standard library only.

A plugin is a directory with a manifest (plugin.yaml, see
filmeto-plugin.yaml(5)) and a program that speaks the plugin protocol of
filmeto-protocol(7): JSON-RPC 2.0, one message per line, on its stdin and
stdout. This module is that program's protocol half. Copy this one file next
to your main.py (`filmeto-plugin new NAME --lang python` does) and write:

    import os
    from filmeto_plugin import BasePlugin, run

    class Echo(BasePlugin):
        name = "echo"
        version = "0.1.0"
        description = "Writes the text into out.txt"

        def execute_task(self, task_data, progress_callback):
            text = task_data["parameters"]["text"]
            progress_callback(50, "writing out.txt")
            path = os.path.join(task_data["output_dir"], "out.txt")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text + "\\n")
            return {"status": "success", "output_files": [path]}

    if __name__ == "__main__":
        run(Echo())

The shape is the one of the Filmeto project's Python plugins:

get_plugin_info()
    A dict: name, version, description and anything else worth telling.
    The default builds it from the class attributes name, version and
    description. It is sent in the `ready` notification and as the answer
    to `get_info`.

execute_task(self, task_data, progress_callback)
    Runs one task. task_data is the execute_task request's params: task_id,
    tool_name (also as ability), plugin_name, parameters (with the
    manifest's defaults filled in), resources (local files), timeout,
    metadata, attempt and output_dir. The SDK makes output_dir before the
    call. Return {"status": "success", "output_files": [paths]} (paths may
    be relative to output_dir; "output_resources" and "metadata" may be
    added), or {"status": "error", "error_message": "what went wrong"}.
    An exception becomes status "error" with its message, and its
    traceback goes to stderr. A coroutine function works too: it is run
    with asyncio.run().

progress_callback(percent, message, data=None, stage=None)
    Sends a `progress` notification for the running task: percent from 0
    to 100, a message for a person, optional data (a dict) and stage.

self.cancelled(task_id=None)
    Whether the host asked to cancel the task (the running one by default),
    or has gone away. Long tasks should call it now and then, and give up
    by returning {"status": "cancelled"} or raising TaskCancelled.
    Calling it (or progress_callback) is also when the SDK answers a ping
    that arrives during the task.

self.heartbeat()
    Sends a `heartbeat` for the running task. The SDK also sends one every
    HEARTBEAT_INTERVAL seconds from a thread while a task runs, so a slow
    step that reports no progress is not taken for a hung plugin.

self.log(message)
    A line on stderr, which is the plugin's log: filmeto-run forwards it
    as `log` events.

run(plugin) or plugin.run()
    The main loop: sends `ready` (get_plugin_info() plus
    "creates_output_dir": true), then answers `ping`, `get_info` and
    `execute_task` one request at a time, notes `cancel`, and returns 0 on
    `shutdown` or when stdin closes.

Standard output belongs to the protocol. run() moves it out of the way:
print(), sys.stdout and anything a child process writes on file descriptor
1 go to stderr instead, and user code and child processes read an empty
stdin, so nothing can corrupt or steal a protocol line. Every message is
flushed at once.

Requests are served one at a time: leave the manifest's `concurrency` at 1.
"""

import asyncio
import inspect
import json
import os
import select
import sys
import threading
import time
import traceback
from datetime import datetime, timezone

__all__ = ["BasePlugin", "BaseServerPlugin", "TaskCancelled", "run"]

# Seconds between the heartbeats sent while a task runs.
HEARTBEAT_INTERVAL = 10.0
# Longest request line read; a longer one is answered with an error.
LINE_MAX = 4 * 1024 * 1024

# JSON-RPC 2.0 error codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603


class TaskCancelled(Exception):
    """Raised by a plugin to stop a task the host cancelled."""


class _Shutdown(Exception):
    """The host said shutdown."""


def _now_iso():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# _Lines.take() for a line over LINE_MAX, which is dropped.
_LONG = object()


class _Lines:
    """Lines read straight from a file descriptor, so that select() sees
    what is waiting (a buffered file object would hide it)."""

    def __init__(self, fd):
        self.fd = fd
        self.buf = b""
        self.eof = False
        self.skipping = False

    def fill(self, timeout=None):
        """One read if input arrives within timeout (None: wait); whether
        anything (data or EOF) came."""
        if self.eof:
            return False
        if timeout is not None and not select.select([self.fd], [], [], timeout)[0]:
            return False
        try:
            chunk = os.read(self.fd, 65536)
        except InterruptedError:
            return False
        if not chunk:
            self.eof = True
        self.buf += chunk
        return True

    def take(self):
        """The next buffered line (str, newline removed), _LONG, or None."""
        while True:
            if b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                if self.skipping or len(line) > LINE_MAX:
                    self.skipping = False
                    return _LONG
                return line.rstrip(b"\r").decode("utf-8", "replace")
            if len(self.buf) > LINE_MAX:
                # Keep no more of it than we must.
                self.buf, self.skipping = b"", True
                continue
            if self.eof and (self.buf or self.skipping):
                line, self.buf = self.buf, b""
                if self.skipping:
                    self.skipping = False
                    return _LONG
                return line.rstrip(b"\r").decode("utf-8", "replace")
            return None

    def next(self):
        """Blocks for the next line; None at EOF."""
        while True:
            line = self.take()
            if line is not None or self.eof:
                return line
            self.fill()


class BasePlugin:
    """The base class of a plugin: override execute_task(), and set name,
    version and description (or override get_plugin_info())."""

    name = None
    version = "0.1.0"
    description = ""

    # Protocol state, set up by run().
    _out = None
    _in = None

    def get_plugin_info(self):
        return {
            "name": self.name or type(self).__name__,
            "version": self.version,
            "description": self.description,
        }

    def execute_task(self, task_data, progress_callback):
        raise NotImplementedError("the plugin does not implement execute_task")

    # What a plugin calls while a task runs --------------------------------

    def log(self, message):
        sys.stderr.write(str(message) + "\n")
        sys.stderr.flush()

    def cancelled(self, task_id=None):
        """Whether task_id (default: the running task) was cancelled, or the
        host is gone."""
        self._pump()
        if task_id is None:
            task_id = self._task_id
        return self._gone or task_id in self._cancelled

    def heartbeat(self):
        if self._task_id is not None:
            self._notify("heartbeat", {
                "task_id": self._task_id,
                "type": "heartbeat",
                "timestamp": _now_iso(),
            })

    def _progress(self, percent, message="", data=None, stage=None):
        params = {
            "task_id": self._task_id,
            "type": "progress",
            "percent": float(percent),
            "message": str(message),
            "timestamp": _now_iso(),
            "data": data if isinstance(data, dict) else {},
        }
        if stage is not None:
            params["stage"] = str(stage)
        self._notify("progress", params)
        self._pump()

    # Messages ---------------------------------------------------------------

    def _send(self, message):
        line = json.dumps(message, separators=(",", ":"), ensure_ascii=False, default=str)
        with self._lock:
            try:
                self._out.write(line + "\n")
                self._out.flush()
            except (BrokenPipeError, ValueError):
                # The host is gone; nobody is left to tell.
                os._exit(0)

    def _notify(self, method, params):
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def _respond(self, msg_id, result):
        self._send({"jsonrpc": "2.0", "id": msg_id, "result": result})

    def _respond_error(self, msg_id, code, message):
        self._send({"jsonrpc": "2.0", "id": msg_id,
                    "error": {"code": code, "message": message}})

    def _parse(self, line):
        """A message as a dict, or None (after answering when it is broken)."""
        if line is _LONG:
            self._respond_error(None, INVALID_REQUEST, "request line too long")
            return None
        if not line.strip():
            return None
        try:
            msg = json.loads(line)
        except ValueError as e:
            self._respond_error(None, PARSE_ERROR, "parse error: %s" % e)
            return None
        if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0":
            self._respond_error(msg.get("id") if isinstance(msg, dict) else None,
                                INVALID_REQUEST, "not a JSON-RPC 2.0 message")
            return None
        if not isinstance(msg.get("method"), str):
            return None  # a response to nothing we asked
        return msg

    def _on_notification(self, msg):
        params = msg.get("params") if isinstance(msg.get("params"), dict) else {}
        if msg["method"] == "cancel":
            task_id = params.get("task_id", self._task_id)
            if task_id is not None:
                self._cancelled.add(task_id)
        elif msg["method"] == "shutdown":
            self._shutdown = True

    def _answer_simple(self, msg):
        """ping and get_info; True when msg was one of them."""
        if msg["method"] == "ping":
            self._respond(msg["id"], {"status": "pong"})
        elif msg["method"] == "get_info":
            self._respond(msg["id"], self._info())
        else:
            return False
        return True

    def _pump(self):
        """Reads what is waiting on stdin without blocking, while a task runs:
        notes cancel and shutdown, answers ping and get_info, and keeps
        other requests for later."""
        if self._in is None:
            return
        with self._pump_lock:
            # Bounded, so a flood of input cannot keep the task from running.
            for _ in range(64):
                if not self._in.fill(0):
                    break
            while True:
                line = self._in.take()
                if line is None:
                    break
                msg = self._parse(line)
                if msg is None:
                    continue
                if "id" not in msg:
                    self._on_notification(msg)
                elif not self._answer_simple(msg):
                    self._deferred.append(line)
            if self._in.eof:
                self._gone = True

    def _info(self):
        info = dict(self.get_plugin_info() or {})
        info.setdefault("name", self.name or type(self).__name__)
        info.setdefault("version", self.version)
        info["creates_output_dir"] = True
        return info

    # Tasks ------------------------------------------------------------------

    def _heartbeats(self, stop):
        while not stop.wait(HEARTBEAT_INTERVAL):
            self.heartbeat()

    def _call(self, task):
        result = self.execute_task(task, self._progress)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
        return result

    def _execute(self, msg_id, task):
        start = time.monotonic()
        task_id = task.get("task_id")
        self._task_id = task_id
        stop = threading.Event()
        beats = threading.Thread(target=self._heartbeats, args=(stop,), daemon=True)
        beats.start()
        try:
            output_dir = task.get("output_dir")
            if output_dir:
                os.makedirs(output_dir, exist_ok=True)
            result = self._call(task)
            if not isinstance(result, dict):
                raise TypeError("execute_task returned %s, not a dict" % type(result).__name__)
            result = dict(result)
        except TaskCancelled as e:
            result = {"status": "cancelled", "error_message": str(e) or "cancelled"}
        except Exception as e:
            traceback.print_exc(file=sys.stderr)
            sys.stderr.flush()
            result = {"status": "error", "error_message": str(e) or type(e).__name__}
        finally:
            stop.set()
            beats.join()
        result.setdefault("status", "success")
        if result["status"] != "success" and task_id in self._cancelled:
            result["status"] = "cancelled"
        if result["status"] != "success":
            result.setdefault("error_message", "the task failed")
        result.setdefault("output_files", [])
        result["task_id"] = task_id
        result["execution_time"] = round(time.monotonic() - start, 3)
        self._task_id = None
        self._cancelled.discard(task_id)
        self._respond(msg_id, result)

    def _handle(self, line):
        msg = self._parse(line)
        if msg is None:
            return
        if "id" not in msg:
            self._on_notification(msg)
        elif msg["method"] == "execute_task":
            params = msg.get("params")
            if not isinstance(params, dict):
                self._respond_error(msg["id"], INVALID_PARAMS, "params must be the task")
            else:
                self._execute(msg["id"], params)
        elif not self._answer_simple(msg):
            self._respond_error(msg["id"], METHOD_NOT_FOUND,
                                "no such method: %s" % msg["method"])

    # The main loop ----------------------------------------------------------

    def _take_stdio(self):
        """Keeps fds 0 and 1 for the protocol and gives everyone else an
        empty stdin and stderr for stdout."""
        proto_in, proto_out = os.dup(0), os.dup(1)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.dup2(2, 1)
        # Whatever was printed before run() goes to stderr too.
        sys.stdout.flush()
        sys.stdout = sys.stderr
        sys.stdin = open(os.devnull, encoding="utf-8")
        self._in = _Lines(proto_in)
        self._out = os.fdopen(proto_out, "w", encoding="utf-8", newline="\n")

    def run(self):
        """Serves the protocol until shutdown or EOF; returns 0."""
        self._lock = threading.Lock()
        self._pump_lock = threading.RLock()
        self._cancelled = set()
        self._deferred = []
        self._task_id = None
        self._shutdown = False
        self._gone = False
        self._take_stdio()
        self._notify("ready", self._info())
        while not self._shutdown:
            line = self._deferred.pop(0) if self._deferred else self._in.next()
            if line is None:
                break
            self._handle(line)
        return 0


# The Filmeto project's name for the base class.
BaseServerPlugin = BasePlugin


def run(plugin):
    """Runs plugin's main loop and exits with its status."""
    sys.exit(plugin.run())
