#!/usr/bin/env python3
"""A fake Gradio app (4.20+ HTTP API, as Wan2GP serves it) for the gradio
plugin's tests. Routes, as Gradio's routes.py has them:

    POST /gradio_api/upload                 multipart "files" -> ["/tmp/gradio/<hex>/<name>", ...]
    POST /gradio_api/call/<api>             {"data": [...], "session_hash"?} -> {"event_id": ...}
    GET  /gradio_api/call/<api>/<event_id>  text/event-stream: generating, heartbeat,
                                            complete (a JSON list) or error (null or text)
    GET  /gradio_api/file=<path>            an uploaded or generated file
    GET  /config                            {"dependencies": [{"id", "api_name"}, ...]}
    POST /gradio_api/cancel                 {"session_hash", "fn_index", "event_id"}

Endpoints (api names): video (a Video output, {"video": FileData, "subtitles": null};
the mp4 given with --video, else an error), image (a PNG whose FileData has
no url), tts (a WAV), echo (the first input FileData's file sent back as a
gallery), text (a string, no file).

The first data item, when it is a string, picks a behaviour:
    fail ...   an error event with that text        failnull   an error event, data null
    slow       generating every 0.1 s for 30 s, heartbeats; stops on /cancel
    hang       sends nothing for 10 s               badjson    a truncated complete event
    missing    a FileData whose url is a 404        cut        the stream ends with no result
Anything else: three generating events, then complete.

Besides the request log of fakelib, each call logs {"call": api, "data": [...],
"session_hash": ...}, each upload {"upload": [[filename, type, size], ...]} and
each cancel {"cancel": body}.
"""
import hashlib
import json
import os
import re
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakelib  # noqa: E402

FN = {"video": 0, "image": 1, "tts": 2, "echo": 3, "text": 4}


def note(server, entry):
    entry["t"] = time.time()
    with server.log_lock:
        if server.log:
            server.log.write(json.dumps(entry) + "\n")
            server.log.flush()


class Handler(fakelib.BaseHandler):
    def files(self):
        with self.server.state_lock:
            return self.server.state.setdefault("files", {})

    def store(self, name, data, ctype):
        digest = hashlib.sha1(data + name.encode()).hexdigest()
        path = f"/tmp/gradio/{digest}/{name}"
        with self.server.state_lock:
            self.server.state.setdefault("files", {})[path] = (data, ctype)
        return path

    def file_data(self, path, ctype, with_url=True):
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        return {"path": path, "url": f"{base}/gradio_api/file={path}" if with_url else None,
                "size": len(self.files()[path][0]) if path in self.files() else None,
                "orig_name": path.rsplit("/", 1)[-1], "mime_type": ctype,
                "is_stream": False, "meta": {"_type": "gradio.FileData"}}

    # -- routes ---------------------------------------------------------------
    def do_POST_(self):
        path = self.path.split("?")[0]
        if path == "/gradio_api/upload":
            return self.upload()
        if path == "/gradio_api/cancel":
            body = self.json_body()
            note(self.server, {"cancel": body})
            with self.server.state_lock:
                self.server.state.setdefault("cancelled", set()).add(body.get("event_id"))
            return self.send(200, {"success": True})
        m = re.fullmatch(r"/gradio_api/call/(\w+)/?", path)
        if not m:
            return self.send(404, {"detail": "Not Found"})
        api = m.group(1)
        if api not in FN:
            return self.send(404, {"detail": f"api_name '{api}' not found"})
        try:
            body = self.json_body()
            data = body["data"]
            assert isinstance(data, list)
        except Exception:
            return self.send(422, {"detail": [{"type": "missing", "loc": ["body", "data"]}]})
        note(self.server, {"call": api, "data": data, "session_hash": body.get("session_hash")})
        event_id = uuid.uuid4().hex
        with self.server.state_lock:
            self.server.state.setdefault("jobs", {})[event_id] = (api, data)
        self.send(200, {"event_id": event_id})

    def upload(self):
        if not self.headers.get("Content-Type", "").startswith("multipart/form-data"):
            return self.send(400, {"detail": "Invalid content type."})
        # fakelib's multipart() keeps one part per name; Gradio takes many "files".
        import email.parser
        import email.policy
        raw = b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + self.body()
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
        paths, seen = [], []
        for p in msg.iter_parts():
            if p.get_param("name", header="content-disposition") != "files":
                continue
            data = p.get_payload(decode=True)
            name = p.get_filename() or "file"
            paths.append(self.store(name, data, p.get_content_type()))
            seen.append([name, p.get_content_type(), len(data)])
        note(self.server, {"upload": seen})
        self.send(200, paths)

    def do_GET_(self):
        path = self.path.split("?")[0]
        if path == "/config":
            deps = [{"id": i + 10, "api_name": n} for n, i in FN.items()]
            return self.send(200, {"version": "5.0.0", "dependencies": deps})
        if path.startswith("/gradio_api/file="):
            from urllib.parse import unquote
            f = self.files().get(unquote(path[len("/gradio_api/file="):]))
            if not f:
                return self.send(404, {"detail": "File not found"})
            return self.send(200, f[0], f[1])
        m = re.fullmatch(r"/gradio_api/call/(\w+)/(\w+)", path)
        if not m:
            return self.send(404, {"detail": "Not Found"})
        with self.server.state_lock:
            job = self.server.state.get("jobs", {}).pop(m.group(2), None)
        if not job or job[0] != m.group(1):
            return self.send(404, {"detail": "Session not found."})
        self.stream(m.group(2), *job)

    # -- the result stream ----------------------------------------------------
    def cancelled(self, event_id):
        with self.server.state_lock:
            return event_id in self.server.state.get("cancelled", set())

    def stream(self, event_id, api, data):
        mode = data[0] if data and isinstance(data[0], str) else ""
        self.start_stream()
        if mode == "hang":
            time.sleep(10)
            return self.end_stream()
        if mode == "slow":
            end = time.time() + 30
            n = 0
            while time.time() < end and not self.cancelled(event_id):
                n += 1
                self.sse([f"step {n}"], "generating")
                if n % 5 == 0:
                    self.sse("null", "heartbeat")
                time.sleep(0.1)
            self.sse(None, "complete")
            return self.end_stream()
        for i in range(3):
            self.sse([f"step {i + 1} of 3"], "generating")
            time.sleep(0.02)
        if mode == "cut":
            return self.end_stream()
        if mode.startswith("fail"):
            self.sse("null" if mode == "failnull" else json.dumps(mode), "error")
            return self.end_stream()
        if mode == "badjson":
            self.chunk('event: complete\ndata: [{"path": "/tmp/gradio/x/video.mp4", "url": \n\n')
            return self.end_stream()
        out = self.outputs(api, data, mode)
        if out is None:
            self.sse(json.dumps("this app has no video to give"), "error")
        else:
            self.sse(out, "complete")
        self.end_stream()

    def outputs(self, api, data, mode):
        if mode == "missing":
            fd = self.file_data("/tmp/gradio/gone/lost.png", "image/png")
            return [fd]
        if api == "video":
            video = self.server.opts.video
            if not video:
                return None
            with open(video, "rb") as f:
                path = self.store("video.mp4", f.read(), "video/mp4")
            return [{"video": self.file_data(path, "video/mp4"), "subtitles": None}, 42]
        if api == "image":
            path = self.store("image.png", fakelib.png(64, 48), "image/png")
            return [self.file_data(path, None, with_url=False)]
        if api == "tts":
            path = self.store("speech.wav", fakelib.wav(0.5), "audio/wav")
            return [self.file_data(path, "audio/wav"), "0.5 s"]
        if api == "echo":
            given = next((d for d in data if isinstance(d, dict) and "path" in d), None)
            if not given or given["path"] not in self.files():
                return None
            ctype = self.files()[given["path"]][1]
            return [[{"image": self.file_data(given["path"], ctype), "caption": None}]]
        return ["just text"]


def extra(ap):
    ap.add_argument("--video", help="an mp4 the video endpoint returns")


if __name__ == "__main__":
    fakelib.serve(Handler, extra)
