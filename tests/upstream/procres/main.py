"""Upstream style: inputs from processed_resources or input_image_path."""
import os
import shutil
import sys
from pathlib import Path

# As upstream: the shared base lives one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from base_plugin import serve  # noqa: E402


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


if __name__ == "__main__":
    serve("procres", execute)
