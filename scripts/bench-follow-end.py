#!/usr/bin/env python3
"""How long `pf-logs --follow` takes to exit once a run has ended and the engine's last line
(`Finished in state …`) is in: two pf-logs binaries (before, after), five runs each.

    PREFECT_API_URL=http://127.0.0.1:4200/api scripts/bench-follow-end.py OLD/pf-logs NEW/pf-logs
"""
import json, subprocess, sys, time, urllib.request, uuid, datetime, statistics
import os
API = os.environ.get("PREFECT_API_URL", "http://127.0.0.1:4200/api")
def call(method, path, body=None):
    req = urllib.request.Request(API + "/" + path, method=method, data=json.dumps(body).encode() if body is not None else None, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        t = r.read()
        return json.loads(t) if t else None
def one(binary):
    flow = call("POST", "flows/", {"name": "bench-" + uuid.uuid4().hex[:8]})
    run = call("POST", "flow_runs/", {"flow_id": flow["id"], "state": {"type": "RUNNING"}})
    p = subprocess.Popen([binary, "--follow", run["id"]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "PREFECT_API_URL": API})
    time.sleep(3)
    call("POST", f"flow_runs/{run['id']}/set_state", {"state": {"type": "COMPLETED"}, "force": True})
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    call("POST", "logs/", [{"name": "prefect.flow_runs", "level": 20, "message": "Finished in state Completed()", "timestamp": now, "flow_run_id": run["id"]}])
    t0 = time.time()
    p.wait(timeout=60)
    return time.time() - t0
for label, binary in [("before (main)", sys.argv[1]), ("after (wt-live)", sys.argv[2])]:
    times = [one(binary) for _ in range(5)]
    print(f"{label}: median {statistics.median(times):.2f} s; " + ", ".join(f"{t:.2f}" for t in times))
