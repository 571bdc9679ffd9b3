"""Upstream style: outputs in a folder of the plugin's own, absolute paths."""
import os
import sys
import tempfile
from pathlib import Path

# As upstream: the shared base lives one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from base_plugin import serve  # noqa: E402


def write(folder, size, name="clip.mp4"):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write((folder + "\n").encode()[:size].ljust(size, b"x"))
    return path


def execute(request):
    task = request.get("params", {})
    params = task.get("parameters", {})
    mode, size = params.get("mode"), int(params.get("size", 16))
    mine = Path(__file__).parent / "outputs"
    if mode == "tmp":
        files = [write(tempfile.mkdtemp(prefix="ownout-"), size)]
    elif mode == "plugin":
        files = [write(str(mine), size)]
    elif mode == "clash":
        files = [write(tempfile.mkdtemp(prefix="ownout-"), size), write(str(mine), size)]
    elif mode == "big":
        files = [write(tempfile.mkdtemp(prefix="ownout-"), size)]
    elif mode == "fifo":
        path = os.path.join(tempfile.mkdtemp(prefix="ownout-"), "clip.mp4")
        os.mkfifo(path)
        files = [path]
    elif mode == "device":
        files = ["/dev/null"]
    elif mode == "linkfifo":
        folder = tempfile.mkdtemp(prefix="ownout-")
        os.mkfifo(os.path.join(folder, "fifo"))
        os.symlink(os.path.join(folder, "fifo"), os.path.join(folder, "clip.mp4"))
        files = [os.path.join(folder, "clip.mp4")]
    elif mode == "directory":
        files = [tempfile.mkdtemp(prefix="ownout-")]
    else:
        files = ["/nonexistent/ownout/clip.mp4"]
    # Upstream plugins name their files in output_resources too.
    return {"task_id": task["task_id"], "status": "success", "output_files": files[:1],
            "output_resources": [{"type": "video", "path": p, "mime_type": "video/mp4"}
                                 for p in files]}


if __name__ == "__main__":
    serve("ownout", execute)
