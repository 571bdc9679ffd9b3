#!/usr/bin/env python3
"""Latency from a task line written to filmeto-run's stdin to its started
line on stdout, with a warm pool (the no-op plugin already running),
against what a per-task process costs: spawning the no-op process that
xargs would run for each task. Prints both medians and their ratio."""
import os
import statistics
import subprocess
import sys
import tempfile
import time

N = int(os.environ.get("N", "300"))


def task(i):
    return ('{"type":"task","task_id":"lat%d","tool_name":"noop"}\n' % i).encode()


def filmeto(outdir):
    run = subprocess.Popen(["filmeto-run", "-j", "1", "--no-cache", "--heartbeat", "0",
                            "-d", outdir], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    samples = []
    for i in range(N + 10):
        t0 = time.perf_counter()
        run.stdin.write(task(i))
        run.stdin.flush()
        started = None
        while True:
            line = run.stdout.readline()
            if not line:
                sys.exit("filmeto-run ended early")
            if started is None and b'"started"' in line:
                started = time.perf_counter()
            if b'"completed"' in line or b'"failed"' in line:
                break
        if i >= 10:  # the first tasks start the plugin: not a warm pool
            samples.append(started - t0)
    run.stdin.close()
    run.wait()
    return samples


def spawn():
    samples = []
    for _ in range(N):
        t0 = time.perf_counter()
        subprocess.run(["true"])
        samples.append(time.perf_counter() - t0)
    return samples


def main():
    with tempfile.TemporaryDirectory() as d:
        f = statistics.median(filmeto(d)) * 1000
    s = statistics.median(spawn()) * 1000
    print("latency: task line to started, warm pool   median %.3f ms (%d tasks)" % (f, N))
    print("latency: spawning a no-op process per task  median %.3f ms" % s)
    print("latency: ratio filmeto/spawn = %.2f (target: filmeto at most 1 ms)" % (f / s))


if __name__ == "__main__":
    main()
