"""The two routes bench/serve.sh measures, as a user would write them
with the seeds' own stack (FastAPI on uvicorn, seed 000), over the same
spool filmeto-serve serves (filmeto(7), lib/spool.c):

  GET  /api/v1/tasks/{id}  the status filmeto-serve answers: the entry
       found in queue/, done/ or failed/ (NAME is 16 hex digits of
       nanoseconds, a dot, the id), running when a worker holds its
       flock, the task file's tool, the log's claims, progress and final
       line.
  POST /api/v1/tasks       one task or a list: checked (an id, a tool, no
       task of that id in the spool, under SPOOL/lock), written to
       tmp/NAME.PID, fdatasync'd, renamed into queue/, queue/ fsync'd,
       then 201: durable before the answer, as filmeto's are, and
       filmeto-watch --list and filmeto-run --spool take them.

Run: FILMETO_SPOOL=DIR uvicorn --app-dir bench serve_fastapi:app
"""
import datetime
import fcntl
import json
import os
import re
import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

SPOOL = os.environ["FILMETO_SPOOL"]
DIRS = ("queue", "done", "failed")
FINALS = ("completed", "failed", "cancelled")
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

for d in DIRS + ("tmp", "log", "out", "cancel"):
    os.makedirs(os.path.join(SPOOL, d), exist_ok=True)

app = FastAPI()


def stamp(t):
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


def error(status, code, message, details=None):
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details or {}}}, status
    )


def find(task_id):
    for d in DIRS:
        for name in os.listdir(os.path.join(SPOOL, d)):
            if name[17:] == task_id:
                return d, name
    return None, None


def running(name):
    try:
        fd = os.open(os.path.join(SPOOL, "queue", name), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


@app.get("/api/v1/tasks/{task_id}")
def status(task_id: str):
    if not ID.match(task_id):
        return error(400, "VALIDATION_ERROR", "'%s' is not a task id" % task_id)
    d, name = find(task_id)
    if not name:
        return error(404, "TASK_NOT_FOUND", "no task '%s' in the spool '%s'" % (task_id, SPOOL))
    try:
        with open(os.path.join(SPOOL, d, name)) as f:
            task = json.loads(f.readline())
    except (OSError, ValueError):
        task = {}
    claims, claimed, progress, final = 0, None, None, None
    log = os.path.join(SPOOL, "log", name)
    try:
        with open(log) as f:
            for line in f:
                ev = json.loads(line)
                kind = ev.get("type")
                if kind == "claimed":
                    claims, claimed = claims + 1, ev
                elif kind == "progress":
                    progress = ev
                elif kind in FINALS and ev.get("task_id") == task_id:
                    final = ev
    except (OSError, ValueError):
        pass
    if d == "queue":
        state = "running" if running(name) else "queued"
    elif d == "done":
        state = "done"
    else:
        state = "cancelled" if final and final["type"] == "cancelled" else "failed"
    queued_at = int(name[:16], 16) / 1e9
    o = {"type": "status", "task_id": task_id, "timestamp": stamp(time.time()), "state": state}
    if task:
        o["tool_name"] = task.get("tool_name")
        o["plugin_name"] = task.get("plugin_name")
    o["queued_at"] = stamp(queued_at)
    if state != "queued":
        mtime = os.stat(os.path.join(SPOOL, d, name)).st_mtime
        o["started_at" if state == "running" else "finished_at"] = stamp(mtime)
    o["attempts"] = claims
    if claimed:
        o["worker"] = claimed.get("worker")
    if progress and not final:
        o["progress"] = {k: progress.get(k) for k in ("percent", "message", "stage")}
    o["result"] = final
    o["log"] = log
    return o


@app.post("/api/v1/tasks", status_code=201)
async def submit(request: Request):
    try:
        body = json.loads(await request.body())
    except ValueError as e:
        return error(400, "VALIDATION_ERROR", "the body is not JSON: %s" % e)
    tasks = body if isinstance(body, list) else [body]
    problems = []
    for t in tasks:
        if not isinstance(t, dict) or not ID.match(str(t.get("task_id", ""))):
            problems.append({"message": "a task needs a valid task_id"})
        elif not isinstance(t.get("tool_name"), str):
            problems.append({"message": "task '%s': no tool_name" % t["task_id"]})
    if problems:
        return error(422, "VALIDATION_ERROR", "%d problems" % len(problems), {"problems": problems})
    return queue(tasks)


def queue(tasks):
    lock = os.open(os.path.join(SPOOL, "lock"), os.O_RDWR | os.O_CREAT, 0o666)
    qfd = os.open(os.path.join(SPOOL, "queue"), os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        fcntl.flock(qfd, fcntl.LOCK_EX)
        ids = {n[17:] for d in DIRS for n in os.listdir(os.path.join(SPOOL, d))}
        names = []
        for t in tasks:
            if t["task_id"] in ids:
                return error(
                    422,
                    "VALIDATION_ERROR",
                    "task '%s': the spool has a task of that id already" % t["task_id"],
                )
            ids.add(t["task_id"])
            line = {
                "type": "task",
                "task_id": t["task_id"],
                "tool_name": t["tool_name"],
                "plugin_name": t.get("plugin_name"),
                "metadata": t.get("metadata", {}),
                "parameters": t.get("parameters", {}),
            }
            name = "%016x.%s" % (time.time_ns() + len(names), t["task_id"])
            tmp = os.path.join(SPOOL, "tmp", "%s.%d" % (name, os.getpid()))
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            try:
                os.write(fd, (json.dumps(line, separators=(",", ":")) + "\n").encode())
                os.fdatasync(fd)
            finally:
                os.close(fd)
            names.append((tmp, name))
        for tmp, name in names:
            os.rename(tmp, os.path.join(SPOOL, "queue", name))
        os.fsync(qfd)
    finally:
        os.close(qfd)
        os.close(lock)
    return JSONResponse({"task_ids": [t["task_id"] for t in tasks], "tasks": len(tasks)}, 201)
