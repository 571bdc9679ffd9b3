#!/usr/bin/env python3
"""A fake generic JSON-over-HTTP generation service for the http plugin's
tests, answering in the shapes such services use:

    POST /tts      {"text", "speaker"?}   -> {"data": [{"audio": BASE64 WAV, "sample_rate": 24000}]}
                                            (AudioLDM / TTS servers: base64 in JSON)
    POST /convert  {"audio": BASE64, ...} -> {"audio": "data:audio/wav;base64,…"}
                                            (RVC: the input converted; here sent back as it came)
    POST /music    {"prompt", "duration"} -> {"audio_url": "/files/<id>.wav"}  (a relative URL)
    POST /image    {"prompt", "n"?}       -> {"images": ["http://…/files/<id>.png", …]}
    POST /raw      {"text" | "prompt"}    -> the WAV itself, audio/wav          (the body is the file)
    POST /text     {"prompt"}             -> {"choices": [{"text": "…"}]}
    GET  /files/<name>                    -> a file made by /music or /image

The "text" or "prompt" field picks a behaviour: "hang" (nothing for 10 s),
"slow" (/raw sends part of the file, then stalls for 30 s), "wrongtype"
(/raw answers JSON), "missing" (/music names a file that is not there),
"nopath" (the reply lacks its field), "badbase64", "echo-key" (an error
that repeats the Authorization header). Each request's JSON body is
logged as {"body": …, "path": …}.
"""
import base64
import json
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakelib  # noqa: E402


class Handler(fakelib.BaseHandler):
    def note(self, entry):
        entry["t"] = time.time()
        with self.server.log_lock:
            if self.server.log:
                self.server.log.write(json.dumps(entry) + "\n")
                self.server.log.flush()

    def keep(self, name, data, ctype):
        with self.server.state_lock:
            self.server.state.setdefault("files", {})[name] = (data, ctype)
        return f"/files/{name}"

    def base(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def do_GET_(self):
        path = self.path.split("?")[0]
        if path.startswith("/files/"):
            with self.server.state_lock:
                f = self.server.state.get("files", {}).get(path[len("/files/"):])
            if not f:
                return self.send(404, {"detail": "Not Found"})
            return self.send(200, f[0], f[1])
        self.send(404, {"detail": "Not Found"})

    def do_POST_(self):
        path = self.path.split("?")[0]
        try:
            body = self.json_body()
        except ValueError:
            return self.send(400, {"detail": "body is not JSON"})
        self.note({"path": path, "body": body})
        if not isinstance(body, dict):
            return self.send(422, {"detail": "expected a JSON object"})
        mode = str(body.get("text") or body.get("prompt") or "")
        if mode == "hang":
            time.sleep(10)
            return self.send(200, {})
        if mode == "echo-key":
            return self.send(400, {"detail": "bad request from " + self.headers.get("Authorization", "")})
        route = {"/tts": self.tts, "/convert": self.convert, "/music": self.music,
                 "/image": self.image, "/raw": self.raw, "/text": self.text}.get(path)
        if not route:
            return self.send(404, {"detail": "Not Found"})
        route(body, mode)

    # -- the routes ----------------------------------------------------------
    def tts(self, body, mode):
        if not body.get("text"):
            return self.send(422, {"detail": [{"loc": ["body", "text"], "msg": "field required"}]})
        if mode == "nopath":
            return self.send(200, {"data": []})
        audio = "@@not base64@@" if mode == "badbase64" else base64.b64encode(fakelib.wav(0.5)).decode()
        self.send(200, {"data": [{"audio": audio, "sample_rate": 24000}], "text": body["text"]})

    def convert(self, body, mode):
        try:
            data = base64.b64decode(body["audio"], validate=True)
        except Exception:
            return self.send(422, {"detail": "audio must be base64"})
        self.send(200, {"audio": "data:audio/wav;base64," + base64.b64encode(data).decode(),
                        "pitch": body.get("pitch")})

    def music(self, body, mode):
        seconds = float(body.get("duration") or 1)
        if mode == "missing":
            return self.send(200, {"audio_url": "/files/gone.wav"})
        url = self.keep(uuid.uuid4().hex + ".wav", fakelib.wav(seconds, 22050, 220.0), "audio/wav")
        self.send(200, {"audio_url": url, "duration": seconds})

    def image(self, body, mode):
        urls = []
        for i in range(int(body.get("n") or 1)):
            name = self.keep(uuid.uuid4().hex + ".png", fakelib.png(40 + i, 30, (10 * i, 0, 0)), "image/png")
            urls.append(self.base() + name)
        self.send(200, {"images": urls, "created": int(time.time())})

    def raw(self, body, mode):
        data = fakelib.wav(0.25, 16000)
        if mode == "wrongtype":
            return self.send(200, {"error": "the model is loading"})
        if mode == "slow":
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:1000])
            self.wfile.flush()
            time.sleep(30)
            self.close_connection = True
            return
        self.send(200, data, "audio/wav")

    def text(self, body, mode):
        if mode == "nopath":
            return self.send(200, {"choices": []})
        self.send(200, {"choices": [{"text": "Once upon a time: " + body.get("prompt", "")}]})


if __name__ == "__main__":
    fakelib.serve(Handler)
