"""Answers as the Filmeto project's base_plugin.py does: execute_task runs
beside the read loop, ping answers pong, anything else (cancel and
shutdown too) gets -32601 with the request's id, null for a notification.
Given a linger file, it stays after its input ends, as a plugin whose
heartbeat loop outlives its read loop does, and notes there when its input
ended and when SIGTERM came."""
import json
import signal
import sys
import threading
import time

lock = threading.Lock()
linger = None


def send(message):
    with lock:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def work(request):
    params = request.get("params", {})
    task_id = params.get("task_id")
    delay = float(params.get("parameters", {}).get("delay", 30))
    end = time.time() + delay
    while time.time() < end:
        left = end - time.time()
        send({"jsonrpc": "2.0", "method": "progress",
              "params": {"task_id": task_id, "type": "progress",
                         "percent": 100 * (1 - left / delay) if delay else 100,
                         "message": "working", "data": {}}})
        time.sleep(min(0.2, max(left, 0)))
    send({"jsonrpc": "2.0", "id": request.get("id"),
          "result": {"task_id": task_id, "status": "success", "output_files": [],
                     # Older upstream plugins read the tool from here.
                     "metadata": {"tool": params.get("tool")}}})


def noted(signum, frame):
    """SIGTERM: noted in the linger file, if there is one, then gone."""
    if linger:
        with open(linger, "a") as note:
            note.write(f"term {time.time()}\n")
    sys.exit(0)


def main():
    global linger
    # From the start: a SIGTERM that comes as soon as the input ends (a
    # loaded machine may run the host before us) is still noted.
    signal.signal(signal.SIGTERM, noted)
    send({"jsonrpc": "2.0", "method": "ready",
          "params": {"name": "nocancel", "version": "1.0.0"}})
    workers = []
    for line in sys.stdin:
        request = json.loads(line)
        method, request_id = request.get("method"), request.get("id")
        if method == "execute_task":
            linger = request.get("params", {}).get("parameters", {}).get("linger") or linger
            worker = threading.Thread(target=work, args=(request,), daemon=True)
            worker.start()
            workers.append(worker)
        elif method == "ping":
            send({"jsonrpc": "2.0", "result": {"status": "pong"}, "id": request_id})
        else:
            send({"jsonrpc": "2.0", "id": request_id,
                  "error": {"code": -32601, "message": f"Method not found: {method}"}})
    # The input ended: noted at once, before anything else can take time.
    if linger:
        with open(linger, "a") as note:
            note.write(f"eof {time.time()}\n")
    # At EOF, as upstream: running tasks get up to 5 s to finish.
    end = time.time() + 5
    for worker in workers:
        worker.join(max(0, end - time.time()))
    if linger:
        time.sleep(30)


if __name__ == "__main__":
    main()
