"""The stdio loop the test plugins in this folder share, as the Filmeto
project's plugins share their server/plugins/base_plugin.py one folder up:
execute_task answered in turn, ping, and -32601 for anything else,
notifications included (id null)."""
import json
import sys


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def serve(name, execute):
    send({"jsonrpc": "2.0", "method": "ready", "params": {"name": name, "version": "1.0.0"}})
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
