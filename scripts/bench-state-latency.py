#!/usr/bin/env python3
"""How long after a run's state change `pf-wait` exits and `pf-logs --follow` exits: two
directories of pf binaries (before, after), N runs each, median and p90.

usage: PREFECT_API_URL=http://127.0.0.1:4200/api scripts/bench-state-latency.py BEFORE_DIR AFTER_DIR [N]

Each sample creates a Running flow run, starts the tool on it, waits 2–3 s (so it has checked
the state once and subscribed to its sockets; a random part, so the change falls anywhere
between two polls), then sets the run COMPLETED through the API and
times until the tool exits. For `pf-logs --follow` the engine's last line (`Finished in state
Completed()`) is written 1.5 s before the state change, so the late-line window is not what is
measured: it exits on the first state check that sees the run ended. Only the standard library.
"""
import json
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone

API = os.environ.get("PREFECT_API_URL", "http://127.0.0.1:4200/api")


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    for attempt in range(5):
        request = urllib.request.Request(f"{API}/{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read()
                return json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            # A loaded SQLite server answers 503 now and then: the script's calls are safe to
            # repeat (a new flow, a forced state).
            if e.code != 503 or attempt == 4:
                raise
            time.sleep(0.5)


def one(directory, tool):
    flow = call("POST", "flows/", {"name": f"bench-{uuid.uuid4().hex[:8]}"})
    run = call("POST", "flow_runs/", {"flow_id": flow["id"], "state": {"type": "RUNNING"}})
    args = [os.path.join(directory, tool), run["id"]]
    if tool == "pf-logs":
        args.insert(1, "--follow")
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "PREFECT_API_URL": API}
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    if tool == "pf-logs":
        time.sleep(0.5)
        now = datetime.now(timezone.utc).isoformat()
        call("POST", "logs/", [{"name": "prefect.flow_runs", "level": 20,
                                "message": "Finished in state Completed()", "timestamp": now,
                                "flow_run_id": run["id"]}])
        time.sleep(1.5 + random.uniform(0, 1))
    else:
        time.sleep(2 + random.uniform(0, 1))
    began = time.monotonic()
    call("POST", f"flow_runs/{run['id']}/set_state", {"state": {"type": "COMPLETED"}, "force": True})
    process.wait(timeout=60)
    return time.monotonic() - began


def p90(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]


def main():
    before, after = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    for tool in ["pf-wait", "pf-logs"]:
        for label, directory in [("before", before), ("after", after)]:
            times = [one(directory, tool) for _ in range(n)]
            print(f"{tool} {label}: median {statistics.median(times):.2f} s, p90 {p90(times):.2f} s; "
                  + " ".join(f"{t:.2f}" for t in times), flush=True)


if __name__ == "__main__":
    main()
