#!/usr/bin/env python3
"""Measure the delay between an event being emitted and `pf-get events --follow` printing it.

usage: scripts/bench-events-latency.py [--api-url URL] [--events N] [--pf-get PATH] [--prefect PATH]

Against a running server (default $PREFECT_API_URL, else http://127.0.0.1:4200/api): follows
events of one unique name with `pf-get events --follow` (the /events/out websocket, polling
/events/filter as the safety net), and, as the peer, with `prefect events stream` (Prefect's own
CLI, websocket only), while emitting N events through `POST /events` at irregular intervals.
The delay is from sending the POST to the follower printing the event. Only the standard library.
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


def post_events(api, events):
    request = urllib.request.Request(f"{api}/events", data=json.dumps(events).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def measure(api, command, events, parse_id):
    env = dict(os.environ, PREFECT_API_URL=api)
    follower = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True, env=env)
    printed = {}

    def read():
        for line in follower.stdout:
            event_id = parse_id(line)
            if event_id and event_id not in printed:
                printed[event_id] = time.monotonic()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(12)  # let the follower start and subscribe (the Python CLI imports for seconds)
    name = f"bench.events.{uuid.uuid4().hex[:8]}"
    sent = {}
    for i in range(events):
        event_id = str(uuid.uuid4())
        event = {"id": event_id, "occurred": datetime.now(timezone.utc).isoformat(),
                 "event": name, "resource": {"prefect.resource.id": f"bench.{i}"}}
        sent[event_id] = time.monotonic()
        post_events(api, [event])
        time.sleep(random.uniform(0.2, 0.6))
    time.sleep(3)
    follower.terminate()
    follower.wait(timeout=30)
    delays = [printed[i] - t for i, t in sent.items() if i in printed]
    return delays, len(sent) - len(delays)


def report(label, delays, missed):
    if not delays:
        print(f"{label}: nothing printed ({missed} missed)")
        return
    delays.sort()
    p90 = delays[min(len(delays) - 1, int(len(delays) * 0.9))]
    print(f"{label}: median {statistics.median(delays) * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms, "
          f"max {delays[-1] * 1000:.0f} ms, missed {missed}/{len(delays) + missed}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--api-url", default=os.environ.get("PREFECT_API_URL", "http://127.0.0.1:4200/api"))
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--pf-get", default="target/release/pf-get")
    parser.add_argument("--prefect", default="prefect")
    args = parser.parse_args()
    api = args.api_url.rstrip("/")

    def pf_id(line):
        return line.strip() or None

    def prefect_id(line):
        try:
            return str(json.loads(line).get("id"))
        except ValueError:
            return None

    report("pf-get events --follow",
           *measure(api, [args.pf_get, "events", "--follow", "--event", "bench.events.*", "--jq", ".id"],
                    args.events, pf_id))
    report("prefect events stream",
           *measure(api, [args.prefect, "events", "stream", "--format", "json"], args.events, prefect_id))


if __name__ == "__main__":
    main()
