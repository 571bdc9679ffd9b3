"""What every fake service under tests/ shares: a threaded HTTP/1.1 server
on loopback that writes its port to a file, logs each request as a JSON
line, stops by itself after --lifetime seconds, and serves scripted faults
before the fake's own handler sees a request.

A fake is a BaseHandler subclass with do_GET/do_POST and a call to
serve(Handler). Its command line:

    fake_x.py --port-file F [--log F] [--faults F] [--lifetime S]

--faults names a JSON file, a list of faults tried in order; the first
whose "method" (default any) and "path" (a regular expression searched in
the request path) match, and whose "times" (default 1; -1 for ever) is not
used up, answers instead of the handler:

    {"path": "/v1/images", "status": 429, "headers": {"Retry-After": "1"},
     "body": {"error": {...}}, "times": 2}
    {"path": "/prompt", "delay": 5}               # then the handler answers
    {"path": "/v1/x", "status": 200, "raw": "{\"trunc", "type": "application/json"}
    {"path": "/v1/x", "close": true}              # drops the connection

A body that is a dict or list is sent as JSON; "raw" is sent as it is.
"""
import argparse
import email.parser
import email.policy
import json
import os
import re
import socket
import socketserver
import sys
import threading
import time
import http.server


class BaseHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake/1.0"
    # Headers and body in one write: with Nagle on, two small writes per
    # reply hold a kept-alive connection to a few dozen requests a second.
    wbufsize = 1 << 16

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass

    # -- what a handler uses ------------------------------------------------
    def body(self):
        """The request body, read once."""
        if not hasattr(self, "_body"):
            n = int(self.headers.get("Content-Length") or 0)
            self._body = self.rfile.read(n) if n else b""
        return self._body

    def json_body(self):
        return json.loads(self.body() or b"null")

    def multipart(self):
        """{name: (filename or None, content type, bytes)} of a multipart body."""
        ctype = self.headers.get("Content-Type", "")
        raw = b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + self.body()
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
        parts = {}
        if not msg.is_multipart():
            return parts
        for p in msg.iter_parts():
            name = p.get_param("name", header="content-disposition")
            parts[name] = (p.get_filename(), p.get_content_type(), p.get_payload(decode=True))
        return parts

    def send(self, status, body=b"", ctype="application/json", headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def start_stream(self, ctype="text/event-stream"):
        """Starts a chunked body; write pieces with chunk(), end with end_stream()."""
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def chunk(self, data):
        if isinstance(data, str):
            data = data.encode()
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def sse(self, data, event=None):
        text = (f"event: {event}\n" if event else "")
        text += "".join(f"data: {line}\n" for line in (data if isinstance(data, str) else json.dumps(data)).split("\n"))
        self.chunk(text + "\n")

    def end_stream(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # -- dispatch ------------------------------------------------------------
    def _record(self):
        entry = {"t": time.time(), "method": self.command, "path": self.path,
                 "headers": dict(self.headers.items())}
        with self.server.log_lock:
            if self.server.log:
                self.server.log.write(json.dumps(entry) + "\n")
                self.server.log.flush()

    def _fault(self):
        with self.server.log_lock:
            for f in self.server.faults:
                if f.get("method", self.command) != self.command:
                    continue
                if not re.search(f.get("path", ""), self.path.split("?")[0]):
                    continue
                if f.get("times", 1) == 0:
                    continue
                if f.get("times", 1) > 0:
                    f["times"] = f.get("times", 1) - 1
                return dict(f)
        return None

    def _dispatch(self, name):
        # One handler serves every request of a kept-alive connection.
        self.__dict__.pop("_body", None)
        self._record()
        f = self._fault()
        if f:
            self.body()
            if f.get("delay"):
                time.sleep(f["delay"])
            if f.get("close"):
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if "status" in f:
                body = f.get("raw", f.get("body", b""))
                self.send(f["status"], body, f.get("type", "application/json"), f.get("headers"))
                return
        handler = getattr(self, "do_" + name + "_", None)
        if not handler:
            self.send(405, {"error": "method not allowed"})
            return
        try:
            handler()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def serve(handler, extra=None):
    """Parses the command line, starts the server, and serves until the
    lifetime ends. extra(parser) may add options; they land in server.opts."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log")
    ap.add_argument("--faults")
    ap.add_argument("--lifetime", type=float, default=300)
    if extra:
        extra(ap)
    opts = ap.parse_args()
    server = Server(("127.0.0.1", 0), handler)
    server.opts = opts
    server.log = open(opts.log, "a") if opts.log else None
    server.log_lock = threading.Lock()
    server.faults = json.load(open(opts.faults)) if opts.faults else []
    server.state = {}
    server.state_lock = threading.Lock()
    tmp = opts.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, opts.port_file)
    threading.Timer(opts.lifetime, server.shutdown).start()
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    sys.exit(0)


def png(width=64, height=64, rgb=(200, 120, 40)):
    """A real PNG of one colour, made with zlib: what an image service returns."""
    import struct
    import zlib

    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)

    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def wav(seconds=1.0, rate=24000, freq=440.0):
    """A real 16-bit mono WAV with a tone: what a speech service returns."""
    import io
    import math
    import struct
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        n = int(seconds * rate)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq * i / rate)))
                               for i in range(n)))
    return buf.getvalue()
