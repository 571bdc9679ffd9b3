"""Upstream style: inputs from processed_resources or input_image_path."""
import json
import os
import shutil
import sys


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def execute(request):
    task = request.get("params", {})
    meta = task.get("metadata", {})
    params = task.get("parameters", {})
    if task.get("ability") == "image2video":
        src, found = params.get("input_image_path"), "input_image_path"
    elif params.get("where") == "parameters":
        src, found = (params.get("processed_resources") or [None])[0], "parameters"
    else:
        src, found = (meta.get("processed_resources") or [None])[0], "metadata"
    if not src or not os.path.isfile(src):
        return {"task_id": task["task_id"], "status": "error",
                "error_message": f"no input in {found}: {src!r}"}
    out = os.path.join(meta["workspace_path"], "result" + os.path.splitext(src)[1])
    shutil.copyfile(src, out)
    return {"task_id": task["task_id"], "status": "success", "output_files": [out],
            "metadata": {"input": src, "found_in": found,
                         "processed_resources": meta.get("processed_resources")}}


def main():
    send({"jsonrpc": "2.0", "method": "ready", "params": {"name": "procres", "version": "1.0.0"}})
    for line in sys.stdin:
        request = json.loads(line)
        method, request_id = request.get("method"), request.get("id")
        if method == "execute_task":
            send({"jsonrpc": "2.0", "id": request_id, "result": execute(request)})
        elif method == "ping":
            send({"jsonrpc": "2.0", "id": request_id, "result": {"status": "pong"}})
        else:
            send({"jsonrpc": "2.0", "id": request_id,
                  "error": {"code": -32601, "message": f"Method not found: {method}"}})


if __name__ == "__main__":
    main()
