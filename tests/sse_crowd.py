#!/usr/bin/env python3
"""A crowd of Server-Sent Event clients against filmeto-serve, for
tests/serve_streams.bats and bench/serve.sh.

sse_crowd.py PORT PID ID:COUNT... opens COUNT streams of each task ID
(GET /api/v1/tasks/ID/stream, HTTP/1.1, chunked, as a browser's
EventSource asks) and reports on stdout, one line each, as it goes:

  open N       every stream answered 200
  beat N       every stream has had a heartbeat since
  rss KIB MAX  the server's VmRSS (of /proc/PID/status) once all beat,
               and the most it reached over the next two heartbeats
  ended ID N IDS
               N streams of task ID got its final event, then the end,
               each the same events: IDS, their ids, comma-separated

It then holds the streams that are still open until it is killed, or
until --hold seconds have passed. A stream that fails or ends without a
final event is said on stderr and the exit status is 1.
"""
import argparse
import asyncio
import sys
import time

FINALS = (b"event: completed", b"event: failed", b"event: cancelled")


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Stream:
    def __init__(self, task):
        self.task = task
        self.text = b""  # what came since the last whole event
        self.beats = 0
        self.final = False
        self.ended = False
        self.ids = []


async def dechunk(reader):
    """The body of a chunked reply, a chunk at a time; b"" at its end."""
    while True:
        size = int((await reader.readline()).split(b";")[0], 16)
        if size == 0:
            await reader.readline()
            yield b""
            return
        data = await reader.readexactly(size)
        await reader.readline()
        yield data


async def follow(port, st, opened):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET /api/v1/tasks/%s/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
        % st.task.encode()
    )
    status = await reader.readline()
    if not status.startswith(b"HTTP/1.1 200"):
        raise RuntimeError("%s: %r" % (st.task, status))
    chunked = False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        if line.lower().startswith(b"transfer-encoding:") and b"chunked" in line.lower():
            chunked = True
    opened()
    if not chunked:
        raise RuntimeError("%s: the reply is not chunked" % st.task)
    async for data in dechunk(reader):
        if not data:
            break
        st.text += data
        # Whole events only: an event ends with an empty line.
        *events, st.text = st.text.split(b"\n\n")
        for ev in events:
            for line in ev.split(b"\n"):
                if line.startswith(b"id: "):
                    st.ids.append(int(line[4:]))
            if b"event: heartbeat" in ev:
                st.beats += 1
            if any(f in ev for f in FINALS):
                st.final = True
    st.ended = True
    writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("pid", type=int)
    ap.add_argument("tasks", nargs="+", help="ID:COUNT")
    ap.add_argument("--hold", type=float, default=600)
    ap.add_argument("--heartbeat", type=float, default=1.0)
    a = ap.parse_args()

    streams = []
    for t in a.tasks:
        task, count = t.rsplit(":", 1)
        streams += [Stream(task) for _ in range(int(count))]
    nopen = 0

    def opened():
        nonlocal nopen
        nopen += 1

    def say(*words):
        print(*words, flush=True)

    tasks = [asyncio.ensure_future(follow(a.port, st, opened)) for st in streams]
    failed = []

    def check():
        for t in tasks:
            if t.done() and t.exception() and t not in failed:
                failed.append(t)
                print("a stream failed: %s" % t.exception(), file=sys.stderr)

    deadline = time.monotonic() + a.hold
    while nopen < len(streams) and not failed:
        await asyncio.sleep(0.05)
        check()
    if failed:
        sys.exit(1)
    say("open", nopen)
    base = [st.beats for st in streams]
    while any(st.beats <= b and not st.ended for st, b in zip(streams, base)):
        await asyncio.sleep(0.05)
        check()
    say("beat", sum(1 for st, b in zip(streams, base) if st.beats > b))
    first = top = rss(a.pid)
    until = time.monotonic() + 2 * a.heartbeat
    while time.monotonic() < until:
        await asyncio.sleep(0.05)
        top = max(top, rss(a.pid))
    say("rss", first, top)
    told = set()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        check()
        for task in sorted({st.task for st in streams} - told):
            mine = [st for st in streams if st.task == task]
            if all(st.ended for st in mine):
                told.add(task)
                say("ended", task, sum(1 for st in mine if st.final),
                    ",".join(map(str, mine[0].ids)) or "-")
                if not all(st.final for st in mine):
                    print("%s: a stream ended without a final event" % task, file=sys.stderr)
                    failed.append(task)
                if any(st.ids != mine[0].ids for st in mine):
                    print("%s: streams got different events" % task, file=sys.stderr)
                    failed.append(task)
        if failed:
            sys.exit(1)


asyncio.run(main())
