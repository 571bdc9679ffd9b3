"""What every fake service in tests/fakes/ shares: a threaded HTTP/1.1
server on loopback that writes its port to a file, logs each request as a
JSON line, stops by itself after --lifetime seconds, and serves scripted
faults before the fake's own handler sees a request.

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

A fault that echoes the key, as careless services do: in "raw", in
"chunks" and in header values, {key} is the key the request carried (the
last word of its Authorization header, or of the header named by
"key_header"), {key[A:B]} a slice of it, and {key|SPELLING} or
{key[A:B]|SPELLING} it spelled another way: json (every character
\\uXXXX), jsonmixed (only '-' and '/' escaped, as \\u002D and \\/), url
(every character %XX), b64 (base64). {base} is the fake's own address,
{other} the same server under another host name (localhost):

    {"path": "/v1/x", "status": 400, "raw": "{\"error\": \"bad key {key|json}\"}"}
    {"path": "/v1/x", "status": 307, "headers": {"Location": "{other}/v1/x"}}

"chunks" sends a 200 chunked body, each piece flushed apart after
"chunk_delay" seconds (default 0.05), so a client reads them separately:

    {"path": "/s", "type": "text/event-stream", "chunks": ["data: {key[:6]}", "{key[6:]}\n\n"]}

"gzip_bomb" sends a 200 chunked body with "Content-Encoding: gzip",
whether or not the request asked for it, that inflates to that many
bytes of "fill" (default NUL bytes) repeated, then "tail" (default
nothing): a few kilobytes on the wire per mebibyte it inflates to.

    {"path": "/v1/audio/speech", "type": "audio/wav", "gzip_bomb": 50000000}
    {"path": "/v1/chat", "gzip_bomb": 50000000, "fill": ":\n", "tail": "data: [DONE]\n\n"}

Run as a command, the module checks files for a key instead:

    fakelib.py leaks KEY PATH...

exits 1 and names every file (directories are walked) that holds the
key as it is or in any spelling above, decoded again and again.
"""
import argparse
import base64
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

    def start_stream(self, ctype="text/event-stream", headers=None):
        """Starts a chunked body; write pieces with chunk(), end with end_stream()."""
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
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

    # -- echoing the key -----------------------------------------------------
    def _fill(self, text, fault):
        """text with its placeholders filled for this request."""
        header = self.headers.get(fault.get("key_header", "Authorization"), "")
        key = header.split()[-1] if header.split() else ""
        port = self.server.server_address[1]

        def sub(m):
            part = key
            if m.group(1) is not None:
                a = int(m.group(2)) if m.group(2) else None
                b = int(m.group(3)) if m.group(3) else None
                part = key[a:b]
            return spell(part, m.group(4) or "plain")
        text = re.sub(r"\{key(\[(-?\d*):(-?\d*)\])?(?:\|(\w+))?\}", sub, text)
        return text.replace("{base}", "http://127.0.0.1:%d" % port).replace(
            "{other}", "http://localhost:%d" % port)

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
            if "gzip_bomb" in f:
                self.start_stream(f.get("type", "application/octet-stream"),
                                  {"Content-Encoding": "gzip"})
                for piece in gzip_bomb(f["gzip_bomb"], f.get("fill", "\0"), f.get("tail", "")):
                    self.chunk(piece)
                self.end_stream()
                return
            if "chunks" in f:
                self.start_stream(f.get("type", "text/event-stream"))
                for piece in f["chunks"]:
                    self.chunk(self._fill(piece, f))
                    time.sleep(f.get("chunk_delay", 0.05))
                self.end_stream()
                return
            if "status" in f:
                body = f.get("raw", f.get("body", b""))
                if isinstance(body, str):
                    body = self._fill(body, f)
                headers = {k: self._fill(v, f) for k, v in (f.get("headers") or {}).items()}
                self.send(f["status"], body, f.get("type", "application/json"), headers)
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


def gzip_bomb(size, fill="\0", tail=""):
    """The pieces of one gzip member that inflates to size bytes of fill
    repeated, then tail. A mebibyte of it is compressed once and sent
    again and again: ended by a full flush, a deflate segment refers to
    nothing before it, so copies of it follow each other validly."""
    import struct
    import zlib

    fill = fill.encode() if isinstance(fill, str) else fill
    tail = tail.encode() if isinstance(tail, str) else tail
    block = (fill * ((1 << 20) // len(fill) + 1))[:1 << 20]

    def segment(data):
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        return c.compress(data) + c.flush(zlib.Z_FULL_FLUSH)

    yield b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    whole, crc, seg, out = size // len(block), 0, segment(block), []
    for _ in range(whole):
        crc = zlib.crc32(block, crc)
        out.append(seg)
        if len(out) == 64:
            yield b"".join(out)
            out = []
    rest = block[:size - whole * len(block)] + tail
    crc = zlib.crc32(rest, crc)
    last = zlib.compressobj(9, zlib.DEFLATED, -15)
    out.append(last.compress(rest) + last.flush(zlib.Z_FINISH))
    out.append(struct.pack("<II", crc & 0xffffffff, (size + len(tail)) & 0xffffffff))
    yield b"".join(out)


def spell(key, how):
    """key spelled as a careless service might echo it."""
    if how == "json":
        return "".join("\\u%04x" % ord(c) for c in key)
    if how == "jsonmixed":
        return key.replace("/", "\\/").replace("-", "\\u002D")
    if how == "url":
        return "".join("%%%02X" % b for b in key.encode())
    if how == "b64":
        return base64.b64encode(key.encode()).decode()
    return key


def decodings(text):
    """text and what it becomes when escapes are decoded, round after round."""
    import html
    import urllib.parse

    seen = [text]
    for _ in range(3):
        t = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
        t = re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), t)
        t = t.replace("\\/", "/").replace("\\\\", "\\")
        t = html.unescape(urllib.parse.unquote(t))
        if t == text:
            break
        seen.append(t)
        text = t
    return seen


def leaks(key, paths):
    """The files under paths that hold key in any spelling, with how."""
    k = key.encode()
    cores = [base64.b64encode(k[o:o + (len(k) - o) // 3 * 3]) for o in range(3)]
    cores = [c for c in cores if len(c) >= 16]
    cores += [c.replace(b"+", b"-").replace(b"/", b"_") for c in cores]
    found = []
    files = []
    for p in paths:
        if os.path.isdir(p):
            files += [os.path.join(d, f) for d, _, fs in os.walk(p) for f in fs]
        elif os.path.exists(p):
            files.append(p)
    for path in files:
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, "rb") as fh:
            data = fh.read()
        if k in data:
            found.append((path, "as it is"))
        elif any(c in data for c in cores):
            found.append((path, "in base64"))
        elif any(key in t for t in decodings(data.decode("utf-8", "replace"))[1:]):
            found.append((path, "escaped"))
    return found


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


if __name__ == "__main__" and len(sys.argv) > 2 and sys.argv[1] == "leaks":
    hits = leaks(sys.argv[2], sys.argv[3:])
    for path, how in hits:
        print("%s: holds the key %s" % (path, how))
    sys.exit(1 if hits else 0)
