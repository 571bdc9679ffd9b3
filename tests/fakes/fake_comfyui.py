#!/usr/bin/env python3
"""A fake ComfyUI server for the comfyui plugin's tests, on tests/fakes/fakelib.py.

It speaks ComfyUI's own wire format (server.py and execution.py):

    GET  /ws?clientId=ID    WebSocket: JSON text messages (status,
                            execution_start, execution_cached, executing,
                            progress, executed, execution_success,
                            execution_error, execution_interrupted) and
                            binary preview frames (4-byte big-endian event
                            type 1, 4-byte image type 2 = PNG, the PNG)
    POST /prompt            {"prompt": graph, "client_id": id}
                            -> {"prompt_id", "number", "node_errors": {}};
                            400 {"error": {...}, "node_errors": {...}} when
                            a node is not valid
    GET  /history/ID        {} while running, then {ID: {"prompt", "outputs",
                            "status": {"status_str", "completed", "messages"}}}
    POST /upload/image      multipart image=FILE, overwrite, type, subfolder
                            -> {"name", "subfolder", "type"}
    GET  /view?filename=&subfolder=&type=   the file
    POST /interrupt         stops the running prompt

The graph is "run": nodes in dependency order, KSampler taking `steps`
steps of --step-delay seconds. Output images are real PNGs sized from the
EmptyLatentImage (or the LoadImage input); videos are real MP4s made with
the ffmpeg command, sized from the video latent or conditioning node.

Beyond the request log, the fake logs what it saw as lines with a "fake"
key: {"fake": "upload", ...}, {"fake": "prompt", "prompt": graph, ...},
{"fake": "queued", "prompt_id": ...}, {"fake": "interrupt", "body": ...},
{"fake": "ws", "client_id": ...}, {"fake": "ws_close", ...}.

Options: --no-ws refuses the upgrade (the plugin must poll /history);
--fail-node ID fails execution at that node; --oom makes that failure
an out-of-memory one; --cached reports every node cached (no executed
message: outputs only in /history); --previews sends a binary preview
frame per step; --no-success sends no execution_success (completion only
by executing node null); --noise sends messages of another prompt first;
--hang never finishes; --interrupt-at N interrupts the prompt at step N
as a user of ComfyUI's own page would; --ws-drop-at N drops the
WebSocket connection at step N; --ws-register-delay S waits S seconds
between the handshake and registering the socket, as ComfyUI's gap
between ws.prepare and self.sockets[sid]; --step-delay S.
"""
import base64
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakelib  # noqa: E402

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".gguf")
# Inputs each node type needs, for /prompt's validation.
REQUIRED = {
    "CheckpointLoaderSimple": ["ckpt_name"],
    "ImageOnlyCheckpointLoader": ["ckpt_name"],
    "UNETLoader": ["unet_name"],
    "CLIPTextEncode": ["text", "clip"],
    "EmptyLatentImage": ["width", "height", "batch_size"],
    "KSampler": ["seed", "steps", "cfg", "sampler_name", "scheduler", "denoise", "model",
                 "positive", "negative", "latent_image"],
    "VAEDecode": ["samples", "vae"],
    "SaveImage": ["images", "filename_prefix"],
    "LoadImage": ["image"],
    "SaveVideo": ["video", "filename_prefix"],
    "CreateVideo": ["images", "fps"],
}
OUTPUT_NODES = ("SaveImage", "SaveVideo", "SaveAnimatedWEBP", "PreviewImage")


def log(server, entry):
    with server.log_lock:
        if server.log:
            server.log.write(json.dumps(entry) + "\n")
            server.log.flush()


def png_size(data):
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    return None


class WebSocket:
    """The server side of one connection: unmasked frames out, masked in."""

    def __init__(self, handler):
        self.handler = handler
        self.lock = threading.Lock()
        self.open = True

    def send(self, payload, opcode=1):
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload).encode()
        n = len(payload)
        if n < 126:
            head = struct.pack(">BB", 0x80 | opcode, n)
        elif n < 65536:
            head = struct.pack(">BBH", 0x80 | opcode, 126, n)
        else:
            head = struct.pack(">BBQ", 0x80 | opcode, 127, n)
        with self.lock:
            if not self.open:
                return
            try:
                self.handler.wfile.write(head + payload)
                self.handler.wfile.flush()
            except OSError:
                self.open = False

    def read_frame(self):
        rf = self.handler.rfile
        head = rf.read(2)
        if len(head) < 2:
            return None, None
        opcode = head[0] & 0x0F
        n = head[1] & 0x7F
        if n == 126:
            n = struct.unpack(">H", rf.read(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", rf.read(8))[0]
        mask = rf.read(4) if head[1] & 0x80 else b"\0\0\0\0"
        data = bytearray(rf.read(n))
        for i in range(len(data)):
            data[i] ^= mask[i % 4]
        return opcode, bytes(data)


class Handler(fakelib.BaseHandler):
    # -- WebSocket ----------------------------------------------------------
    def do_GET_(self):
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        if url.path == "/ws":
            return self.websocket(q.get("clientId", [""])[0])
        if url.path.startswith("/history/"):
            return self.history(url.path[len("/history/"):])
        if url.path == "/view":
            return self.view(q)
        if url.path == "/system_stats":
            return self.send(200, {"system": {"comfyui_version": "0.3.40"}, "devices": []})
        self.send(404, "404: Not Found", "text/plain")

    def websocket(self, client_id):
        opts = self.server.opts
        key = self.headers.get("Sec-WebSocket-Key", "")
        if opts.no_ws or self.headers.get("Upgrade", "").lower() != "websocket" or not key:
            # What a proxy without WebSocket support answers.
            self.send(400, "Bad Request: not a websocket upgrade", "text/plain")
            return
        accept = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        ws = WebSocket(self)
        sid = client_id or uuid.uuid4().hex
        # ComfyUI registers the socket after the handshake (ws.prepare, then
        # self.sockets[sid] = ws); until then messages for sid go nowhere.
        time.sleep(opts.ws_register_delay)
        with self.server.state_lock:
            self.server.state.setdefault("ws", {})[sid] = ws
        log(self.server, {"fake": "ws", "client_id": sid})
        ws.send({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}},
                                            "sid": sid}})
        try:
            while True:
                opcode, data = ws.read_frame()
                if opcode is None:
                    break
                if opcode == 8:
                    ws.send(data[:2], 8)
                    log(self.server, {"fake": "ws_close", "client_id": sid})
                    break
                if opcode == 9:
                    ws.send(data, 10)
        except OSError:
            pass
        with ws.lock:
            ws.open = False
        with self.server.state_lock:
            if self.server.state["ws"].get(sid) is ws:
                del self.server.state["ws"][sid]

    # -- prompts ------------------------------------------------------------
    def do_POST_(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/prompt":
            return self.prompt()
        if path == "/upload/image":
            return self.upload()
        if path == "/interrupt":
            return self.interrupt()
        self.send(404, "404: Not Found", "text/plain")

    def validate(self, graph):
        """ComfyUI's node_errors for graph, and the first error."""
        errors = {}
        inputs_seen = self.server.state.get("inputs", {})
        for nid, node in graph.items():
            ctype = node.get("class_type")
            inputs = node.get("inputs", {})
            errs = []
            for name in REQUIRED.get(ctype, []):
                if name not in inputs:
                    errs.append({"type": "required_input_missing",
                                 "message": "Required input is missing",
                                 "details": name,
                                 "extra_info": {"input_name": name}})
            for name in ("ckpt_name", "unet_name"):
                v = inputs.get(name)
                if isinstance(v, str) and not v.endswith(CHECKPOINT_SUFFIXES):
                    errs.append({"type": "value_not_in_list",
                                 "message": "Value not in list",
                                 "details": f"{name}: '{v}' not in ['v1-5-pruned-emaonly.safetensors', 'svd_xt.safetensors']",
                                 "extra_info": {"input_name": name}})
            if ctype == "LoadImage" and inputs.get("image") not in inputs_seen:
                errs.append({"type": "custom_validation_failed",
                             "message": "Custom validation failed for node",
                             "details": f"image - Invalid image file: {inputs.get('image')}",
                             "extra_info": {"input_name": "image"}})
            if ctype == "CLIPTextEncode" and "text" in inputs and not isinstance(inputs["text"], str):
                errs.append({"type": "invalid_input_type",
                             "message": "Failed to convert an input value to a STRING value",
                             "details": "text", "extra_info": {"input_name": "text"}})
            if errs:
                errors[nid] = {"errors": errs, "dependent_outputs": [], "class_type": ctype}
        return errors

    def prompt(self):
        try:
            body = self.json_body()
            graph = body["prompt"]
            assert isinstance(graph, dict) and graph
            for node in graph.values():
                assert isinstance(node, dict) and "class_type" in node
        except Exception:
            self.send(400, {"error": {"type": "invalid_prompt",
                                      "message": "Cannot execute because the prompt is not valid",
                                      "details": "", "extra_info": {}}, "node_errors": {}})
            return
        client = body.get("client_id")
        log(self.server, {"fake": "prompt", "prompt": graph, "client_id": client})
        errors = self.validate(graph)
        if errors:
            self.send(400, {"error": {"type": "prompt_outputs_failed_validation",
                                      "message": "Prompt outputs failed validation",
                                      "details": "", "extra_info": {}},
                            "node_errors": errors})
            return
        with self.server.state_lock:
            number = self.server.state.get("number", 0)
            self.server.state["number"] = number + 1
        pid = str(uuid.uuid4())
        log(self.server, {"fake": "queued", "prompt_id": pid, "number": number})
        self.send(200, {"prompt_id": pid, "number": number, "node_errors": {}})
        threading.Thread(target=Run(self.server, pid, number, graph, client).run,
                         daemon=True).start()

    def upload(self):
        parts = self.multipart()
        if "image" not in parts:
            self.send(400, "No image", "text/plain")
            return
        filename, ctype, data = parts["image"]
        sub = (parts.get("subfolder") or (None, None, b""))[2].decode()
        kind = (parts.get("type") or (None, None, b"input"))[2].decode()
        overwrite = (parts.get("overwrite") or (None, None, b"false"))[2].decode()
        name = os.path.basename(filename or "image.png")
        full = f"{sub}/{name}" if sub else name
        with self.server.state_lock:
            self.server.state.setdefault("inputs", {})[full] = data
        log(self.server, {"fake": "upload", "filename": filename, "content_type": ctype,
                          "size": len(data), "type": kind, "subfolder": sub,
                          "overwrite": overwrite, "png": png_size(data) is not None})
        self.send(200, {"name": name, "subfolder": sub, "type": kind})

    def interrupt(self):
        body = self.json_body() if self.body() else None
        log(self.server, {"fake": "interrupt", "body": body})
        with self.server.state_lock:
            self.server.state["interrupted"] = True
        self.send(200, b"", "text/plain")

    def history(self, pid):
        with self.server.state_lock:
            entry = self.server.state.get("history", {}).get(pid)
        self.send(200, {pid: entry} if entry else {})

    def view(self, q):
        key = (q.get("filename", [""])[0], q.get("subfolder", [""])[0],
               q.get("type", ["output"])[0])
        with self.server.state_lock:
            item = self.server.state.get("files", {}).get(key)
        if not item:
            self.send(404, "404: Not Found", "text/plain")
            return
        self.send(200, item[1], item[0])


class Run:
    """One prompt's execution, as ComfyUI's prompt worker does it."""

    def __init__(self, server, pid, number, graph, client):
        self.server, self.pid, self.number = server, pid, number
        self.graph, self.client = graph, client
        self.messages = []
        self.outputs = {}

    def ws(self):
        with self.server.state_lock:
            return self.server.state.get("ws", {}).get(self.client)

    def emit(self, kind, data, history=True):
        if history:
            self.messages.append([kind, data])
        ws = self.ws()
        if ws:
            ws.send({"type": kind, "data": data})

    def order(self):
        done, out = set(), []

        def visit(nid):
            if nid in done or nid not in self.graph:
                return
            done.add(nid)
            for v in self.graph[nid].get("inputs", {}).values():
                if isinstance(v, list) and len(v) == 2 and isinstance(v[0], str):
                    visit(v[0])
            out.append(nid)
        for nid in sorted(self.graph, key=lambda k: (k.isdigit() and int(k), k)):
            visit(nid)
        return out

    def find(self, *types):
        for nid, node in self.graph.items():
            if node.get("class_type") in types:
                return node.get("inputs", {})
        return {}

    def size(self):
        latent = self.find("EmptyLatentImage", "SVD_img2vid_Conditioning",
                           "EmptyHunyuanLatentVideo")
        if "width" in latent:
            return int(latent["width"]), int(latent["height"])
        load = self.find("LoadImage")
        with self.server.state_lock:
            data = self.server.state.get("inputs", {}).get(load.get("image"))
        return png_size(data) if data and png_size(data) else (64, 64)

    def save(self, subfolder, name, ctype, data):
        with self.server.state_lock:
            self.server.state.setdefault("files", {})[(name, subfolder, "output")] = (ctype, data)

    def counter(self):
        with self.server.state_lock:
            n = self.server.state.get("counter", 0) + 1
            self.server.state["counter"] = n
        return n

    def produce(self, nid, node):
        inputs = node.get("inputs", {})
        prefix = str(inputs.get("filename_prefix", "ComfyUI"))
        sub, _, base = prefix.rpartition("/")
        w, h = self.size()
        if node["class_type"] == "SaveVideo":
            video = self.find("SVD_img2vid_Conditioning", "EmptyHunyuanLatentVideo")
            frames = int(video.get("video_frames", video.get("length", 14)))
            fps = float(self.find("CreateVideo").get("fps", 8))
            name = f"{base}_{self.counter():05}_.mp4"
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "v.mp4")
                subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                                f"testsrc=size={w}x{h}:rate={fps}", "-frames:v", str(frames),
                                "-pix_fmt", "yuv420p", "-c:v", "libx264", path],
                               check=True, stdin=subprocess.DEVNULL)
                data = open(path, "rb").read()
            self.save(sub, name, "video/mp4", data)
            return {"images": [{"filename": name, "subfolder": sub, "type": "output"}],
                    "animated": [True]}
        batch = int(self.find("EmptyLatentImage").get("batch_size", 1))
        images = []
        for i in range(batch):
            name = f"{base}_{self.counter():05}_.png"
            self.save(sub, name, "image/png", fakelib.png(w, h, (40 * i % 256, 90, 160)))
            images.append({"filename": name, "subfolder": sub, "type": "output"})
        return {"images": images}

    def interrupted(self):
        with self.server.state_lock:
            hit = self.server.state.pop("interrupted", False)
        return hit

    def finish(self, status, outputs):
        entry = {"prompt": [self.number, self.pid, self.graph, {"client_id": self.client},
                            list(outputs)],
                 "outputs": outputs,
                 "status": {"status_str": status, "completed": status == "success",
                            "messages": self.messages},
                 "meta": {n: {"node_id": n, "display_node": n} for n in outputs}}
        with self.server.state_lock:
            self.server.state.setdefault("history", {})[self.pid] = entry

    def run(self):
        opts = self.server.opts
        now = lambda: int(time.time() * 1000)  # noqa: E731
        if opts.noise:
            other = str(uuid.uuid4())
            for kind, data in (("execution_start", {"prompt_id": other}),
                               ("executing", {"node": "3", "display_node": "3", "prompt_id": other}),
                               ("progress", {"value": 1, "max": 2, "prompt_id": other, "node": "3"}),
                               ("execution_error", {"prompt_id": other, "node_id": "3",
                                                    "node_type": "KSampler",
                                                    "exception_message": "not yours",
                                                    "exception_type": "RuntimeError"}),
                               ("execution_success", {"prompt_id": other}),
                               ("executing", {"node": None, "prompt_id": other})):
                self.emit(kind, data, history=False)
        self.emit("status", {"status": {"exec_info": {"queue_remaining": 1}}}, history=False)
        self.emit("execution_start", {"prompt_id": self.pid, "timestamp": now()})
        order = self.order()
        cached = order if opts.cached else []
        self.emit("execution_cached", {"nodes": cached, "prompt_id": self.pid,
                                       "timestamp": now()})
        executed = list(cached)
        outputs = {}
        for nid in order:
            node = self.graph[nid]
            ctype = node.get("class_type")
            if ctype in OUTPUT_NODES:
                outputs[nid] = self.produce(nid, node)
            if nid in cached:
                continue
            self.emit("executing", {"node": nid, "display_node": nid, "prompt_id": self.pid},
                      history=False)
            if nid == opts.fail_node:
                exc = ("torch.OutOfMemoryError", "Allocation on device") if opts.oom else \
                      ("RuntimeError", "mat1 and mat2 shapes cannot be multiplied (77x768 and 1024x320)")
                self.emit("execution_error", {
                    "prompt_id": self.pid, "node_id": nid, "node_type": ctype,
                    "executed": executed, "exception_message": exc[1],
                    "exception_type": exc[0], "traceback": ["Traceback (most recent call last):\n"],
                    "current_inputs": {}, "current_outputs": {}, "timestamp": now()})
                self.finish("error", {})
                return
            if ctype == "KSampler":
                steps = int(node["inputs"].get("steps", 20))
                for i in range(1, steps + 1):
                    end = time.time() + opts.step_delay
                    if i == opts.ws_drop_at and self.ws():
                        # A proxy's idle timeout, a restart of the front end.
                        ws = self.ws()
                        with ws.lock:
                            ws.open = False
                            ws.handler.connection.shutdown(2)
                    if i == opts.interrupt_at:
                        # Someone pressed Cancel in ComfyUI's own UI.
                        with self.server.state_lock:
                            self.server.state["interrupted"] = True
                    while True:
                        if self.interrupted():
                            self.emit("execution_interrupted", {
                                "prompt_id": self.pid, "node_id": nid, "node_type": ctype,
                                "executed": executed, "timestamp": now()})
                            self.finish("error", {})
                            return
                        if not opts.hang and time.time() >= end:
                            break
                        time.sleep(min(0.02, max(0.0, end - time.time())) or 0.02)
                    self.emit("progress", {"value": i, "max": steps, "prompt_id": self.pid,
                                           "node": nid}, history=False)
                    if opts.previews and self.ws():
                        self.ws().send(struct.pack(">II", 1, 2) + fakelib.png(8, 8), 2)
            if nid in outputs:
                self.emit("executed", {"node": nid, "display_node": nid,
                                       "output": outputs[nid], "prompt_id": self.pid},
                          history=False)
            executed.append(nid)
        self.finish("success", outputs)
        if not opts.no_success:
            self.emit("execution_success", {"prompt_id": self.pid, "timestamp": now()})
        self.emit("executing", {"node": None, "prompt_id": self.pid}, history=False)
        self.emit("status", {"status": {"exec_info": {"queue_remaining": 0}}}, history=False)


def options(ap):
    ap.add_argument("--no-ws", action="store_true")
    ap.add_argument("--fail-node")
    ap.add_argument("--oom", action="store_true")
    ap.add_argument("--cached", action="store_true")
    ap.add_argument("--previews", action="store_true")
    ap.add_argument("--no-success", action="store_true")
    ap.add_argument("--noise", action="store_true")
    ap.add_argument("--hang", action="store_true")
    ap.add_argument("--step-delay", type=float, default=0.005)
    ap.add_argument("--interrupt-at", type=int, default=0)
    ap.add_argument("--ws-drop-at", type=int, default=0)
    ap.add_argument("--ws-register-delay", type=float, default=0.0)


def quiet_errors(handle_error):
    """A client that hangs up (the plugin closing its WebSocket, a cancel)
    is what clients do; anything else is still printed."""
    def wrapper(self, request, address):
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            handle_error(self, request, address)
    return wrapper


if __name__ == "__main__":
    fakelib.Server.handle_error = quiet_errors(fakelib.Server.handle_error)
    fakelib.serve(Handler, options)
