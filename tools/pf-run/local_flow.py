"""pf-run's helper for local runs (-p FILE / -m MODULE): load a flow, describe it, run flow runs.

usage: python -c <this> path|module SOURCE [NAME]

Protocol, one JSON object per line on the original stdout (the flow's own prints go to stderr):
  -> {"flow_name": ..., "function": ..., "parameter_schema": {...}}   once the flow is loaded
  -> {"error": "no-prefect"|"load"|"choose", "message": ...}          instead, then exit 3
Then for each flow run id read from stdin, the run is executed by Prefect's flow engine:
  -> {"done": ID}
"""

import importlib
import json
import os
import sys

proto = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)


def say(**fields):
    proto.write(json.dumps(fields) + "\n")
    proto.flush()


def fail(kind, message):
    say(error=kind, message=message)
    sys.exit(3)


try:
    from prefect.flows import Flow
except Exception as exc:  # noqa: BLE001 - any import failure means "no usable prefect"
    fail("no-prefect", f"{type(exc).__name__}: {exc}")

kind, source = sys.argv[1], sys.argv[2]
wanted = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None

try:
    if kind == "path":
        from prefect.utilities.importtools import load_script_as_module

        module = load_script_as_module(source)
    else:
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        module = importlib.import_module(source)
except Exception as exc:  # noqa: BLE001
    import traceback

    traceback.print_exc()
    fail("load", f"cannot load {source}: {type(exc).__name__}: {exc}")

flows = {attr: obj for attr, obj in vars(module).items() if isinstance(obj, Flow)}
listed = ", ".join(sorted(flows)) or "none"
if wanted:
    chosen = [(a, f) for a, f in flows.items() if a == wanted or f.name == wanted]
    if not chosen:
        fail("choose", f"no flow '{wanted}' in {source} (flows there: {listed})")
elif len(flows) == 1:
    chosen = list(flows.items())
else:
    fail("choose", f"{source} has {len(flows)} flows ({listed}): name one with -n FUNCTION")
attr, flow = chosen[0]

from prefect.utilities.callables import parameter_schema  # noqa: E402

say(
    flow_name=flow.name,
    function=attr,
    parameter_schema=parameter_schema(flow.fn).model_dump_for_openapi(),
)

from uuid import UUID  # noqa: E402

from prefect.engine import handle_engine_signals  # noqa: E402
from prefect.flow_engine import flow_run_logger, load_flow_run, run_flow  # noqa: E402

try:
    from prefect.engine import _drive_run_flow_result as drive
except ImportError:  # older prefect: only coroutines need driving

    def drive(flow, result):
        import asyncio

        if asyncio.iscoroutine(result):
            asyncio.run(result)




def flush_api_logs():
    # The run's last log lines are still queued for the API; send them before saying done.
    import logging

    from prefect.logging.handlers import APILogHandler

    for name in ("prefect", ""):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, APILogHandler):
                try:
                    handler.flush()
                except Exception:  # noqa: BLE001 - flushing is best effort
                    pass


for line in sys.stdin:
    if not line.strip():
        continue
    run_id = UUID(line.strip())
    try:
        with handle_engine_signals(run_id):
            flow_run = load_flow_run(run_id)
            logger = flow_run_logger(flow_run)
            drive(flow, run_flow(flow, flow_run=flow_run, return_type="state", error_logger=logger))
    except SystemExit:
        pass
    flush_api_logs()
    say(done=str(run_id))
