"""Upstream style: configuration from metadata.server_config only; the
key is echoed back in every place a careless plugin would."""
import hashlib
import json
import os
import sys
from pathlib import Path

# As upstream: the shared base lives one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from base_plugin import send, serve  # noqa: E402


def execute(request):
    task = request.get("params", {})
    meta = task.get("metadata", {})
    config = meta.get("server_config", {})
    key = config.get("api_key", "")
    url = config.get("server_url", "")
    send({"jsonrpc": "2.0", "method": "progress",
          "params": {"task_id": task["task_id"], "type": "progress", "percent": 50,
                     "message": f"calling {url} with {key}", "data": {"key": key}}})
    print(f"using api key {key}", file=sys.stderr, flush=True)
    print(f"debug: key={key}", flush=True)
    out = os.path.join(meta["workspace_path"], "config.json")
    with open(out, "w") as f:
        json.dump({"server_url": url, "key_length": len(key),
                   "key_sha256": hashlib.sha256(key.encode()).hexdigest(),
                   "nested_token_length": len(config.get("auth", {}).get("token", "")),
                   "server_name": meta.get("server_name"),
                   "top_server_name": task.get("server_name"),
                   "workspace_path": meta.get("workspace_path")}, f)
    return {"task_id": task["task_id"], "status": "success", "output_files": [out],
            "metadata": {"echo": key, "server_url": url}}


if __name__ == "__main__":
    serve("srvconfig", execute)
