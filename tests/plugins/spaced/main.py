"""Answers as the Filmeto project's base_plugin.py does (ready, ping,
execute_task, -32601 for anything else) and draws a flat PPM image into
the task's output_dir, in pure Python."""
import json
import os
import sys


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def draw(params):
    parameters = params.get("parameters", {})
    width, height = int(parameters.get("width", 16)), int(parameters.get("height", 16))
    path = os.path.join(params["output_dir"], "image.ppm")
    with open(path, "wb") as out:
        out.write(b"P6\n%d %d\n255\n" % (width, height))
        out.write(bytes([200, 120, 40]) * (width * height))
    return path


def main():
    send({"jsonrpc": "2.0", "method": "ready",
          "params": {"name": "Spaced Server", "version": "1.0.0"}})
    for line in sys.stdin:
        request = json.loads(line)
        method, request_id = request.get("method"), request.get("id")
        if method == "execute_task":
            params = request.get("params", {})
            path = draw(params)
            send({"jsonrpc": "2.0", "id": request_id,
                  "result": {"task_id": params.get("task_id"), "status": "success",
                             "output_files": [path], "metadata": {}}})
        elif method == "ping":
            send({"jsonrpc": "2.0", "result": {"status": "pong"}, "id": request_id})
        else:
            send({"jsonrpc": "2.0", "id": request_id,
                  "error": {"code": -32601, "message": f"Method not found: {method}"}})


if __name__ == "__main__":
    main()
