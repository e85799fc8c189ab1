#!/usr/bin/env python3
"""Measure pf-exec against `prefect shell watch`, and how late its lines reach the server.

usage: scripts/bench-exec.py [--api-url URL] [--runs N] [--lines N] [--pf-exec PATH] [--prefect PATH]

Against a running server (default $PREFECT_API_URL, else http://127.0.0.1:4200/api):
1. start-to-exit of `pf-exec -n bench -- true` and of `prefect shell watch true` (each a recorded
   flow run): wall time, CPU time (user+sys of the tool and everything it waited for) and peak RSS
   of the tool's own process (GNU time, /usr/bin/time); medians over N runs;
2. line printed → visible in `/logs/filter`: pf-exec runs a command that prints N lines at
   irregular intervals (0.2–0.8 s), each carrying the time it was printed; a poller asks
   `/logs/filter` every 50 ms and notes when each line is first there. Only the standard library.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid


def call(api, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{api}/{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
        return json.loads(text) if text else None


def timed(argv, env):
    """(wall s, cpu s, peak RSS MB of the process itself) of one run, through GNU time (a
    process forked from Python would count Python's own pages in its peak RSS)."""
    with tempfile.NamedTemporaryFile("r") as report:
        start = time.monotonic()
        done = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", report.name, *argv], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.monotonic() - start
        if done.returncode != 0:
            sys.exit(f"{argv} failed with {done.returncode}")
        user, system, rss_kb = report.read().split()[-3:]
    return wall, float(user) + float(system), int(rss_kb) / 1024


def start_cost(label, argv, env, runs):
    samples = [timed(argv, env) for _ in range(runs)]
    wall, cpu, rss = (statistics.median(s[i] for s in samples) for i in range(3))
    print(f"{label}: wall {wall * 1000:.0f} ms, cpu {cpu * 1000:.0f} ms, rss {rss:.1f} MB "
          f"(median of {runs})")
    return wall, cpu, rss


def latency(api, pf_exec, env, lines):
    flow = f"bench-latency-{uuid.uuid4().hex[:8]}"
    printer = ("import random, sys, time\n"
               f"for i in range({lines}):\n"
               "    print(f'line {i} {time.time():.6f}', flush=True)\n"
               "    time.sleep(random.uniform(0.2, 0.8))\n")
    job = subprocess.Popen([pf_exec, "-n", flow, "--", sys.executable, "-c", printer], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen, delays = set(), []
    deadline = time.monotonic() + 600
    run_id = None
    while True:
        finished = job.poll() is not None
        if run_id is None:
            runs = call(api, "POST", "flow_runs/filter", {"flows": {"name": {"any_": [flow]}}})
            run_id = runs[0]["id"] if runs else None
        if run_id:
            logs = call(api, "POST", "logs/filter", {
                "logs": {"flow_run_id": {"any_": [run_id]}}, "sort": "TIMESTAMP_ASC", "limit": 200})
            now = time.time()
            for record in logs:
                parts = record["message"].split()
                if len(parts) == 3 and parts[0] == "line" and parts[1] not in seen:
                    seen.add(parts[1])
                    delays.append(now - float(parts[2]))
        if finished and len(seen) >= lines:
            break
        if finished and time.monotonic() > deadline:
            break
        if not finished:
            deadline = time.monotonic() + 10
        time.sleep(0.05)
    delays.sort()
    print(f"line printed → in /logs/filter: median {statistics.median(delays) * 1000:.0f} ms, "
          f"p90 {delays[int(len(delays) * 0.9)] * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms, "
          f"{len(seen)}/{lines} lines")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--api-url", default=os.environ.get("PREFECT_API_URL", "http://127.0.0.1:4200/api"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--lines", type=int, default=40)
    parser.add_argument("--pf-exec", default="target/release/pf-exec")
    parser.add_argument("--prefect", default="prefect")
    args = parser.parse_args()
    env = dict(os.environ, PREFECT_API_URL=args.api_url)
    pf = start_cost("pf-exec -- true", [args.pf_exec, "-n", "bench-true", "--", "true"], env, args.runs)
    py = start_cost("prefect shell watch true",
                    [args.prefect, "shell", "watch", "true", "--flow-name", "bench-true-py"], env, args.runs)
    print(f"ratio pf/python: wall {pf[0] / py[0]:.3f}, cpu {pf[1] / py[1]:.3f}, rss {pf[2] / py[2]:.3f}")
    latency(args.api_url, args.pf_exec, env, args.lines)


if __name__ == "__main__":
    main()
