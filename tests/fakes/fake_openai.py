#!/usr/bin/env python3
"""A fake OpenAI-compatible service on loopback for the openai plugin's
tests and benchmark. It speaks the real wire format of the endpoints the
plugin uses, under /v1:

  POST   /v1/chat/completions     chat.completion, or chat.completion.chunk
                                  SSE events ending "data: [DONE]"
  POST   /v1/images/generations   {"created","data":[{"b64_json"|"url"}]}
  POST   /v1/images/edits         the same, from a multipart upload
  GET    /files/NAME              what a "url" answer points at
  POST   /v1/audio/speech         the audio itself (WAV; other formats
                                  through the ffmpeg command)
  POST   /v1/videos               a video object (JSON or multipart)
  GET    /v1/videos/ID            its status and progress, moving on by
                                  one step per poll
  GET    /v1/videos/ID/content    the MP4 given with --video
  DELETE /v1/videos/ID            {"id","object":"video.deleted","deleted":true}

Errors have the real shape {"error":{"message","type","param","code"}}.
Options beside fakelib's:

  --key K           requests must carry "Authorization: Bearer K" (401 otherwise)
  --video F         the MP4 served as every video's content
  --video-steps N   polls before a video is completed (default 3)
  --chunk-delay S   seconds between two streamed chat chunks (default 0)
  --words N         words in a chat answer (default: the echo's own)
  --bodies F        append each request's JSON or multipart fields here

Answers are deterministic: a chat answer is "echo: " and the last user
message (words repeated up to --words), so a test can tell what arrived.
The prompt "echo-key" is answered "echo: the key is KEY and KEY." with
the key of the request, as a careless proxy would: streamed, each key
split across two deltas, '-' sent as \\u002d, and one event's line split
across two chunks of the body; in one reply, every character of the key
\\u-escaped.
Image answers are built once per shape and kept: the benchmark sends
a thousand of them and the fake must not be what it measures.
"""
import base64
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakelib  # noqa: E402

VOICES = {"alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage",
          "shimmer", "verse"}
AUDIO_TYPES = {"mp3": "audio/mpeg", "opus": "audio/opus", "aac": "audio/aac",
               "flac": "audio/flac", "wav": "audio/wav", "pcm": "audio/pcm"}
SIZE_RE = re.compile(r"^(\d{2,4})x(\d{2,4})$")

_cache = {}
_cache_lock = threading.Lock()
_files = {}


def cached(key, make):
    with _cache_lock:
        v = _cache.get(key)
    if v is None:
        v = make()
        with _cache_lock:
            _cache[key] = v
    return v


def error(message, etype="invalid_request_error", param=None, code=None):
    return {"error": {"message": message, "type": etype, "param": param, "code": code}}


class Handler(fakelib.BaseHandler):
    # A reply leaves in one write, without Nagle's wait: otherwise its
    # headers and body part in two packets and the client's delayed ACK
    # makes every request cost tens of milliseconds.
    wbufsize = 1 << 16

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle_one_request(self):
        # One handler serves every request of a kept-alive connection:
        # fakelib's body() would hand the first request's body to all.
        self.__dict__.pop("_body", None)
        super().handle_one_request()

    # -- helpers --------------------------------------------------------------
    def opts(self):
        return self.server.opts

    def authorized(self):
        key = self.opts().key
        if not key:
            return True
        got = self.headers.get("Authorization", "")
        if got == "Bearer " + key:
            return True
        self.body()
        if not got.startswith("Bearer "):
            msg = ("You didn't provide an API key. You need to provide your API key in an "
                   "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
        else:
            # Some proxies echo the key they refuse: the plugin must redact it.
            msg = "Incorrect API key provided: %s." % got[len("Bearer "):]
        self.send(401, error(msg, code="invalid_api_key"))
        return False

    def note(self, fields):
        path = self.opts().bodies
        if not path:
            return
        with self.server.log_lock:
            with open(path, "a") as f:
                f.write(json.dumps({"path": self.path, "method": self.command, **fields}) + "\n")

    def bad(self, message, param=None, code=None, status=400):
        self.send(status, error(message, param=param, code=code))

    def request_json(self):
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            self.bad("Invalid Content-Type header (%s), expected application/json."
                     % self.headers.get("Content-Type"))
            return None
        try:
            body = self.json_body()
        except ValueError:
            self.bad("We could not parse the JSON body of your request.")
            return None
        if not isinstance(body, dict):
            self.bad("The body must be a JSON object.")
            return None
        return body

    def check_model(self, body):
        model = body.get("model")
        if not isinstance(model, str) or not model:
            self.bad("you must provide a model parameter", param="model")
            return None
        if model.startswith("bad-"):
            self.bad("The model `%s` does not exist or you do not have access to it." % model,
                     param="model", code="model_not_found")
            return None
        return model

    # -- dispatch -------------------------------------------------------------
    def do_GET_(self):
        path = self.path.split("?")[0]
        if path.startswith("/files/"):
            data = _files.get(path[len("/files/"):])
            if data is None:
                return self.bad("No such file", status=404, code="not_found")
            ctype = "image/png" if path.endswith(".png") else "application/octet-stream"
            return self.send(200, data, ctype)
        if not self.authorized():
            return
        m = re.match(r"^/v1/videos/([\w-]+)(/content)?$", path)
        if m:
            return self.video_get(m.group(1), bool(m.group(2)))
        self.bad("Invalid URL (GET %s)" % path, status=404)

    def do_POST_(self):
        path = self.path.split("?")[0]
        if not self.authorized():
            return
        route = {
            "/v1/chat/completions": self.chat,
            "/v1/images/generations": self.generations,
            "/v1/images/edits": self.edits,
            "/v1/audio/speech": self.speech,
            "/v1/videos": self.video_create,
        }.get(path)
        if not route:
            self.body()
            return self.bad("Invalid URL (POST %s)" % path, status=404)
        route()

    def do_DELETE_(self):
        path = self.path.split("?")[0]
        if not self.authorized():
            return
        m = re.match(r"^/v1/videos/([\w-]+)$", path)
        if not m:
            return self.bad("Invalid URL (DELETE %s)" % path, status=404)
        with self.server.state_lock:
            v = self.server.state.get(m.group(1))
            if v:
                v["deleted"] = True
        if not v:
            return self.bad("Video not found", status=404, code="not_found")
        self.send(200, {"id": m.group(1), "object": "video.deleted", "deleted": True})

    # -- chat -----------------------------------------------------------------
    def chat(self):
        body = self.request_json()
        if body is None:
            return
        self.note({"json": body})
        model = self.check_model(body)
        if model is None:
            return
        msgs = body.get("messages")
        if not isinstance(msgs, list) or not msgs:
            return self.bad("'messages' must be a non-empty array", param="messages")
        user = [m.get("content", "") for m in msgs if m.get("role") == "user"]
        if not user or not isinstance(user[-1], str) or not user[-1].strip():
            return self.bad("the last user message is empty", param="messages")
        words = ("echo: " + user[-1]).split()
        if self.opts().words:
            words = [words[i % len(words)] for i in range(self.opts().words)]
        text = " ".join(words)
        if user[-1].strip() == "echo-key":
            return self.echo_key(body, model)
        cid = "chatcmpl-" + hashlib.sha1(text.encode()).hexdigest()[:24]
        created = int(time.time())
        usage = {"prompt_tokens": sum(len(str(m.get("content", "")).split()) for m in msgs),
                 "completion_tokens": len(words)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if not body.get("stream"):
            return self.send(200, {
                "id": cid, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "logprobs": None, "finish_reason": "stop"}],
                "usage": usage})

        def chunk(delta, finish=None):
            return {"id": cid, "object": "chat.completion.chunk", "created": created,
                    "model": model, "choices": [{"index": 0, "delta": delta,
                                                 "logprobs": None, "finish_reason": finish}]}
        self.start_stream()
        self.sse(chunk({"role": "assistant", "content": ""}))
        for i, w in enumerate(words):
            if self.opts().chunk_delay:
                time.sleep(self.opts().chunk_delay)
            self.sse(chunk({"content": (" " if i else "") + w}))
        self.sse(chunk({}, "stop"))
        self.sse("[DONE]")
        self.end_stream()

    def echo_key(self, body, model):
        key = self.headers.get("Authorization", "").split()[-1]
        cid = "chatcmpl-echokey"
        if not body.get("stream"):
            reply = json.dumps({"id": cid, "object": "chat.completion", "created": 1,
                                "model": model, "choices": [{
                                    "index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant",
                                                "content": "echo: the key is @KEY@."}}]})
            return self.send(200, reply.replace("@KEY@", fakelib.spell(key, "json")))

        def line(content, finish=None):
            data = json.dumps({"id": cid, "object": "chat.completion.chunk", "created": 1,
                               "model": model, "choices": [{"index": 0, "delta": {
                                   "content": content}, "finish_reason": finish}]})
            return "data: " + data.replace("-", "\\u002d") + "\n\n"
        half = len(key) // 2
        self.start_stream()
        self.chunk(line("echo: the key is " + key[:half]))
        second = line(key[half:] + " and " + key[:3])
        # One event's line in two reads of the body.
        cut = second.index("\\u002d") + 3
        self.chunk(second[:cut])
        time.sleep(0.05)
        self.chunk(second[cut:])
        self.chunk(line(key[3:] + "."))
        self.chunk(line("", "stop"))
        self.chunk("data: [DONE]\n\n")
        self.end_stream()

    # -- images ---------------------------------------------------------------
    def image_params(self, body):
        model = self.check_model(body)
        if model is None:
            return None
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            self.bad("'prompt' is a required property", param="prompt")
            return None
        if "FORBIDDEN" in prompt:
            self.bad("Your request was rejected as a result of our safety system.",
                     param="prompt", code="content_policy_violation")
            return None
        if model.startswith("gpt-image") and "response_format" in body:
            self.bad("Unknown parameter: 'response_format'.", param="response_format",
                     code="unknown_parameter")
            return None
        fmt = body.get("response_format") or "b64_json"
        if fmt not in ("b64_json", "url"):
            self.bad("'%s' is not one of ['url', 'b64_json'] - 'response_format'" % fmt,
                     param="response_format")
            return None
        size = body.get("size") or "auto"
        m = SIZE_RE.match(str(size))
        if size != "auto" and not m:
            self.bad("Invalid value: '%s'. Supported values are: '1024x1024', '1024x1536', "
                     "'1536x1024', and 'auto'." % size, param="size", code="invalid_value")
            return None
        try:
            n = int(body.get("n") or 1)
        except ValueError:
            n = 0
        if not 1 <= n <= 10:
            self.bad("Invalid 'n': must be between 1 and 10.", param="n")
            return None
        wh = (int(m.group(1)), int(m.group(2))) if m else (64, 64)
        return n, fmt, wh

    def image_answer(self, n, fmt, wh, rgb):
        if fmt == "url":
            png = cached(("png", wh, rgb), lambda: fakelib.png(wh[0], wh[1], rgb))
            data = []
            for _ in range(n):
                name = os.urandom(8).hex() + ".png"
                _files[name] = png
                data.append({"url": "http://127.0.0.1:%d/files/%s" % (self.server.server_address[1], name),
                             "revised_prompt": "a fake revision"})
            return self.send(200, {"created": int(time.time()), "data": data})

        def make():
            b64 = base64.b64encode(fakelib.png(wh[0], wh[1], rgb)).decode()
            return json.dumps({"created": 1700000000,
                               "data": [{"b64_json": b64, "revised_prompt": "a fake revision"}] * n,
                               "usage": {"input_tokens": 10, "output_tokens": 100,
                                         "total_tokens": 110}}).encode()
        self.send(200, cached(("b64", n, wh, rgb), make))

    def generations(self):
        body = self.request_json()
        if body is None:
            return
        self.note({"json": body})
        p = self.image_params(body)
        if p:
            self.image_answer(*p, rgb=(200, 120, 40))

    def edits(self):
        parts = self.multipart()
        fields = {k: (v[2].decode() if v[0] is None else
                      {"filename": v[0], "type": v[1], "size": len(v[2]),
                       "sha256": hashlib.sha256(v[2]).hexdigest()})
                  for k, v in parts.items()}
        self.note({"multipart": fields})
        image = parts.get("image") or parts.get("image[]")
        if not image or image[0] is None:
            return self.bad("'image' is a required file", param="image")
        if image[1] not in ("image/png", "image/jpeg", "image/webp"):
            return self.bad("Invalid file 'image': unsupported mimetype ('%s'). Supported file "
                            "formats are 'image/jpeg', 'image/png', and 'image/webp'." % image[1],
                            param="image", code="invalid_image_file")
        body = {k: v for k, v in fields.items() if isinstance(v, str)}
        p = self.image_params(body)
        if p:
            self.image_answer(*p, rgb=(40, 120, 200))

    # -- speech ---------------------------------------------------------------
    def speech(self):
        body = self.request_json()
        if body is None:
            return
        self.note({"json": body})
        model = self.check_model(body)
        if model is None:
            return
        text = body.get("input")
        if not isinstance(text, str) or not text.strip():
            return self.bad("'input' is a required property", param="input")
        if len(text) > 4096:
            return self.bad("string too long: 'input' has at most 4096 characters",
                            param="input", code="string_above_max_length")
        if body.get("voice") not in VOICES:
            return self.bad("Invalid value for 'voice': '%s'." % body.get("voice"),
                            param="voice", code="invalid_value")
        fmt = body.get("response_format", "mp3")
        if fmt not in AUDIO_TYPES:
            return self.bad("Invalid value for 'response_format': '%s'." % fmt,
                            param="response_format", code="invalid_value")
        speed = float(body.get("speed", 1.0))
        if not 0.25 <= speed <= 4.0:
            return self.bad("Invalid 'speed': must be between 0.25 and 4.0.", param="speed")
        seconds = min(10.0, max(0.5, len(text.split()) * 0.4 / speed))
        wav = cached(("wav", seconds), lambda: fakelib.wav(seconds))
        if fmt == "wav":
            return self.send(200, wav, "audio/wav")
        if fmt == "pcm":
            return self.send(200, wav[44:], "audio/pcm")
        with tempfile.TemporaryDirectory() as d:
            src, dst = os.path.join(d, "in.wav"), os.path.join(d, "out." + fmt)
            with open(src, "wb") as f:
                f.write(wav)
            r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", src, dst],
                               capture_output=True)
            if r.returncode:
                return self.send(500, error("The server had an error processing your request.",
                                            "server_error"))
            with open(dst, "rb") as f:
                self.send(200, f.read(), AUDIO_TYPES[fmt])

    # -- videos ---------------------------------------------------------------
    def video_create(self):
        if self.headers.get("Content-Type", "").startswith("multipart/form-data"):
            parts = self.multipart()
            body = {k: v[2].decode() for k, v in parts.items() if v[0] is None}
            ref = parts.get("input_reference")
            self.note({"multipart": {**body, **({"input_reference": {
                "filename": ref[0], "type": ref[1], "size": len(ref[2]),
                "sha256": hashlib.sha256(ref[2]).hexdigest()}} if ref else {})}})
            if ref and ref[0] is None:
                return self.bad("'input_reference' must be a file", param="input_reference")
        else:
            body = self.request_json()
            if body is None:
                return
            self.note({"json": body})
        model = self.check_model(body)
        if model is None:
            return
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return self.bad("'prompt' is a required property", param="prompt")
        seconds = str(body.get("seconds", "4"))
        if seconds not in ("4", "8", "12"):
            return self.bad("Invalid value: '%s'. Supported values are: '4', '8', and '12'."
                            % seconds, param="seconds", code="invalid_value")
        size = body.get("size", "720x1280")
        if not SIZE_RE.match(size):
            return self.bad("Invalid value: '%s'." % size, param="size", code="invalid_value")
        vid = "video_" + os.urandom(12).hex()
        v = {"id": vid, "object": "video", "model": model, "status": "queued", "progress": 0,
             "created_at": int(time.time()), "completed_at": None, "expires_at": None,
             "size": size, "seconds": seconds, "quality": "standard", "error": None,
             "remixed_from_video_id": None}
        with self.server.state_lock:
            self.server.state[vid] = {"video": v, "polls": 0, "prompt": prompt}
        self.send(200, v)

    def video_get(self, vid, content):
        with self.server.state_lock:
            s = self.server.state.get(vid)
            if s and not content and not s.get("deleted"):
                s["polls"] += 1
                steps = self.opts().video_steps
                v = s["video"]
                if "fail" in s["prompt"] and s["polls"] >= 2:
                    v.update(status="failed", progress=0, error={
                        "code": "moderation_blocked",
                        "message": "Your request was blocked by our moderation system."})
                elif s["polls"] >= steps:
                    v.update(status="completed", progress=100,
                             completed_at=int(time.time()))
                else:
                    v.update(status="in_progress", progress=int(100 * s["polls"] / steps))
            v = dict(s["video"]) if s else None
            deleted = s.get("deleted") if s else False
        if not v or deleted:
            return self.bad("Video with id '%s' not found." % vid, status=404, code="not_found")
        if not content:
            return self.send(200, v)
        if v["status"] != "completed":
            return self.bad("Video is not ready yet, use GET /v1/videos/{video_id} to check "
                            "status.", code="video_not_ready")
        path = self.opts().video
        if not path:
            return self.send(500, error("no --video given to the fake", "server_error"))
        with open(path, "rb") as f:
            self.send(200, f.read(), "video/mp4")


def options(ap):
    ap.add_argument("--key")
    ap.add_argument("--video")
    ap.add_argument("--video-steps", type=int, default=3)
    ap.add_argument("--chunk-delay", type=float, default=0.0)
    ap.add_argument("--words", type=int, default=0)
    ap.add_argument("--bodies")


if __name__ == "__main__":
    fakelib.serve(Handler, options)
