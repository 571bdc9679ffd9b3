#!/usr/bin/env python3
"""A fake file server that misbehaves slowly, for filmeto-run's downloads
(remote_url resources):

    GET /file?bytes=N                  N bytes with a Content-Length
    GET /trickle?bytes=N&every=S       a Content-Length of N, one byte every S seconds
    GET /endless?rate=B                a chunked body that never ends, B bytes a
                                       second (default 1 MiB), in 16 KiB chunks
    GET /stall                         headers and one chunk, then nothing, ever

Each request is logged when it starts (fakelib) and again when it ends, as
{"path", "sent": bytes of body written, "end": why}; "end" is "done",
"closed" (the client went away) or "lifetime".
"""
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakelib  # noqa: E402

CHUNK = 16 * 1024


class Handler(fakelib.BaseHandler):
    def handle(self):
        # A client that hangs up mid-body is what these tests are about.
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def finish(self):
        try:
            super().finish()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def note(self, sent, end):
        with self.server.log_lock:
            if self.server.log:
                self.server.log.write(json.dumps({"t": time.time(), "path": self.path,
                                                  "sent": sent, "end": end}) + "\n")
                self.server.log.flush()

    def pace(self, started, sent, rate):
        """Sleeps until sent bytes are due at rate bytes a second."""
        due = started + sent / rate
        if due > time.time():
            time.sleep(due - time.time())

    def do_GET_(self):
        url = urllib.parse.urlsplit(self.path)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        sent, end = 0, "done"
        try:
            if url.path == "/file":
                n = int(q.get("bytes", 1024))
                self.send(200, b"x" * n, "application/octet-stream")
                sent = n
            elif url.path == "/trickle":
                n, every = int(q.get("bytes", 60)), float(q.get("every", 1))
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(n))
                self.end_headers()
                self.wfile.flush()
                for _ in range(n):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    sent += 1
                    time.sleep(every)
            elif url.path == "/endless":
                rate, started = float(q.get("rate", 1 << 20)), time.time()
                self.start_stream("application/octet-stream")
                while True:
                    self.chunk(b"x" * CHUNK)
                    sent += CHUNK
                    self.pace(started, sent, rate)
            elif url.path == "/stall":
                self.start_stream("application/octet-stream")
                self.chunk(b"x")
                sent = 1
                # Nothing more; a client that goes away is noticed by the OS only.
                time.sleep(self.server.opts.lifetime)
                end = "lifetime"
            else:
                self.send(404, {"detail": "Not Found"})
        except (BrokenPipeError, ConnectionResetError):
            end = "closed"
            self.close_connection = True
        self.note(sent, end)


if __name__ == "__main__":
    fakelib.serve(Handler)
