#!/usr/bin/env python3
"""Hostile clients of filmeto-serve for tests/serve_limits.bats.

serve_limits.py idle PORT PID N       N connections opened and left idle:
    prints the server's descriptors and memory before, while open and
    after, how long /health takes while they are open, and how many of
    them the server closed and when.
serve_limits.py cap PORT N            N connections (past the cap): how
    many the server took (answered /health on them), and that a request
    gets in once some are closed.
serve_limits.py slow PORT GAP         one header byte every GAP seconds:
    prints how long until the server dropped the connection.
serve_limits.py keepalive PORT N GAP  N requests on one connection, GAP
    seconds apart: prints how many were answered.
serve_limits.py flood PORT PID N      N connections each sending 4,000 tiny
    header lines and no end: the server's memory before and after, and
    what each was answered.
serve_limits.py trickle PORT KEY      a POST of a 200 kB body whose head
    comes a few bytes at a time, with KEY ("-" for none) in the middle
    of it: prints the status answered.
serve_limits.py smuggle PORT HEADER...  a POST with these header lines
    whose body carries a second request (GET /health) just past the
    first header's length: prints each status line answered.
"""
import os
import selectors
import socket
import sys
import time


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def health(port, timeout=5.0):
    """Seconds a GET /health takes on a new connection, or -1."""
    t = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    got = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    s.close()
    return time.monotonic() - t if got.startswith(b"HTTP/1.1 200") else -1


def wait_closed(socks, deadline):
    """How many of socks the server closed before deadline, and the time of the last."""
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    closed, last, start = 0, 0.0, time.monotonic()
    while closed < len(socks) and time.monotonic() - start < deadline:
        for key, _ in sel.select(timeout=0.2):
            try:
                data = key.fileobj.recv(4096)
            except OSError:
                data = b""
            if not data:
                sel.unregister(key.fileobj)
                closed += 1
                last = time.monotonic() - start
    return closed, last


def idle(port, pid, n):
    before = fds(pid)
    print("fds_before", before)
    print("rss_before", rss_kib(pid))
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
    # Every one accepted: the server holds a descriptor for each.
    for _ in range(100):
        if fds(pid) >= before + n:
            break
        time.sleep(0.02)
    print("fds_open", fds(pid))
    print("rss_open", rss_kib(pid))
    print("health_s %.3f" % health(port))
    closed, last = wait_closed(socks, 30)
    print("closed", closed)
    print("closed_by_s %.1f" % last)
    for s in socks:
        s.close()
    time.sleep(0.2)
    print("fds_after", fds(pid))
    print("rss_after", rss_kib(pid))


def cap(port, n):
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        s.setblocking(False)
        socks.append(s)
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    answered, start = set(), time.monotonic()
    while time.monotonic() - start < 3:
        events = sel.select(timeout=0.5)
        if not events and len(answered) > 0:
            break
        for key, _ in events:
            if key.fileobj.recv(65536).startswith(b"HTTP/1.1 200"):
                answered.add(key.fileobj)
            sel.unregister(key.fileobj)
    print("answered", len(answered))
    waiting = [s for s in socks if s not in answered]
    # Ten taken ones go: as many waiting ones get in.
    for s in list(answered)[:10]:
        s.close()
    got, start = 0, time.monotonic()
    sel = selectors.DefaultSelector()
    for s in waiting:
        sel.register(s, selectors.EVENT_READ)
    while got < 10 and time.monotonic() - start < 5:
        for key, _ in sel.select(timeout=0.5):
            if key.fileobj.recv(65536).startswith(b"HTTP/1.1 200"):
                got += 1
            sel.unregister(key.fileobj)
    print("then", got)
    for s in socks:
        s.close()


def slow(port, gap):
    s = socket.create_connection(("127.0.0.1", port))
    start = time.monotonic()
    s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    try:
        while time.monotonic() - start < 60:
            time.sleep(gap)
            s.sendall(b"a")
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    break
            except BlockingIOError:
                pass
            s.setblocking(True)
    except OSError:
        pass
    print("dropped_after_s %.1f" % (time.monotonic() - start))


def keepalive(port, n, gap):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    answered = 0
    for _ in range(n):
        try:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            got = s.recv(65536)
        except OSError:
            break
        if not got.startswith(b"HTTP/1.1 200"):
            break
        answered += 1
        time.sleep(gap)
    print("answered", answered)


def flood(port, pid, n):
    print("rss_before", rss_kib(pid))
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"a:\r\n" * 4000)
        except OSError:
            pass
        socks.append(s)
    time.sleep(0.3)
    print("rss_after", rss_kib(pid))
    answers = {}
    for s in socks:
        try:
            got = s.recv(65536)[9:12].decode() or "closed"
        except OSError:
            got = "closed"
        answers[got] = answers.get(got, 0) + 1
        s.close()
    for k, v in sorted(answers.items()):
        print("answered_" + k, v)


def read_all(s):
    """What the server sends until it closes (or the socket's timeout)."""
    got = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except OSError:
        pass
    return got


def trickle(port, key):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    body = b"x" * 200000
    head = b"POST /api/v1/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if key != "-":
        head += b"Authorization: Bearer " + key.encode() + b"\r\n"
    head += b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
    for i in range(0, len(head), 7):
        s.sendall(head[i:i + 7])
        time.sleep(0.01)
    try:
        s.sendall(body)
    except OSError:
        pass
    got = read_all(s)
    print("status", got[9:12].decode() or "none")


def smuggle(port, headers):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    head = "POST /api/v1/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    head += "".join(h + "\r\n" for h in headers) + "\r\n"
    # What evhttp would read as the next request if it took one framing.
    s.sendall((head + "{}\r\nGET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").encode())
    for line in read_all(s).decode(errors="replace").split("\r\n"):
        if line.startswith("HTTP/1.1 "):
            print("status", line[9:12])


if __name__ == "__main__":
    cmd, port = sys.argv[1], int(sys.argv[2])
    if cmd == "idle":
        idle(port, int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "cap":
        cap(port, int(sys.argv[3]))
    elif cmd == "slow":
        slow(port, float(sys.argv[3]))
    elif cmd == "flood":
        flood(port, int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "trickle":
        trickle(port, sys.argv[3])
    elif cmd == "smuggle":
        smuggle(port, sys.argv[3:])
    elif cmd == "keepalive":
        keepalive(port, int(sys.argv[3]), float(sys.argv[4]))
