#!/usr/bin/env python3
"""Measure the delay between a log line being written and `pf-logs --follow` printing it.

usage: scripts/bench-follow-latency.py [--api-url URL] [--lines N] [--pf-logs PATH]

Against a running server (default $PREFECT_API_URL, else http://127.0.0.1:4200/api): creates a
flow run, follows it twice — once as pf-logs does by default (the /logs/out websocket where the
server streams, polling as the safety net) and once polling only (`--grep`, which the stream
cannot apply) — while writing N lines through `POST /logs/` at irregular intervals. The delay is
from sending the POST (as a flow's log handler does) to pf-logs printing the line. Only the standard library.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import threading
import time
import urllib.request
import uuid
from datetime import datetime, timezone


def call(api, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{api}/{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
        return json.loads(text) if text else None


def measure(api, pf_logs, lines, extra_args):
    flow = call(api, "POST", "flows/", {"name": f"bench-{uuid.uuid4().hex[:8]}"})
    run = call(api, "POST", "flow_runs/", {"flow_id": flow["id"], "state": {"type": "RUNNING"}})
    env = dict(os.environ, PREFECT_API_URL=api)
    follower = subprocess.Popen([pf_logs, "--follow", run["id"], "--jq", ".message", *extra_args],
                                stdout=subprocess.PIPE, text=True, env=env)
    printed = {}

    def read():
        for line in follower.stdout:
            printed[line.strip()] = time.monotonic()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(2)  # let pf-logs subscribe
    written = {}
    for i in range(lines):
        message = f"bench line {i}"
        now = datetime.now(timezone.utc).isoformat()
        written[message] = time.monotonic()
        call(api, "POST", "logs/", [{"name": "bench", "level": 20, "message": message,
                                     "timestamp": now, "flow_run_id": run["id"]}])
        time.sleep(random.uniform(0.2, 0.8))
    time.sleep(2)
    call(api, "POST", f"flow_runs/{run['id']}/set_state", {"state": {"type": "COMPLETED"}, "force": True})
    follower.wait(timeout=60)
    reader.join(timeout=5)
    delays = [printed[m] - t for m, t in written.items() if m in printed]
    missing = len(written) - len(delays)
    return delays, missing


def summary(label, delays, missing):
    delays_ms = sorted(d * 1000 for d in delays)
    p90 = delays_ms[int(len(delays_ms) * 0.9) - 1]
    print(f"{label:<28} n={len(delays_ms):<3} median={statistics.median(delays_ms):7.0f} ms  "
          f"p90={p90:7.0f} ms  max={delays_ms[-1]:7.0f} ms  missing={missing}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-url", default=os.environ.get("PREFECT_API_URL", "http://127.0.0.1:4200/api"))
    parser.add_argument("--lines", type=int, default=40)
    here = os.path.dirname(os.path.abspath(__file__))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(here, "..", "target"))
    parser.add_argument("--pf-logs", default=os.path.join(target, "release", "pf-logs"))
    args = parser.parse_args()
    api = args.api_url.rstrip("/")
    summary("websocket (default)", *measure(api, args.pf_logs, args.lines, []))
    summary("polling (--grep, no stream)", *measure(api, args.pf_logs, args.lines, ["--grep", "bench"]))


if __name__ == "__main__":
    main()
