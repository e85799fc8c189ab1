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
    import prefect
    from prefect.flows import Flow
except Exception as exc:  # noqa: BLE001 - any import failure means "no usable prefect"
    fail("no-prefect", f"{type(exc).__name__}: {exc}")

NEEDED = "pf-run -p/-m needs Python prefect 2.20 or 3.0 and later"
try:
    too_old = int(prefect.__version__.split(".")[0]) < 2
except ValueError:
    too_old = False
if too_old:
    fail("version", f"{NEEDED} (this is {prefect.__version__})")

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


def openapi_schema(fn):
    schema = parameter_schema(fn)
    if hasattr(schema, "model_dump_for_openapi"):  # Prefect 3
        return schema.model_dump_for_openapi()
    return schema.dict()  # Prefect 2: its dict() leaves out None fields, as OpenAPI wants


def engine():
    """How this Prefect executes a flow run that exists: a function of the run id. Resolved
    before the flow is described, so a Prefect pf cannot drive is refused before any run is
    created."""
    import inspect
    from uuid import UUID

    try:
        from prefect.flow_engine import run_flow  # Prefect 3
    except ImportError:
        run_flow = None
    if run_flow is None:
        # Prefect 2: its engine loads the flow from an entrypoint and runs it, as for a worker.
        from prefect.engine import enter_flow_run_engine_from_subprocess

        if kind == "path":
            entrypoint = f"{os.path.abspath(source)}:{attr}"
        else:
            entrypoint = f"{source}:{attr}"

        def execute(run_id):
            os.environ["PREFECT__FLOW_ENTRYPOINT"] = entrypoint
            enter_flow_run_engine_from_subprocess(UUID(run_id))

        return execute

    from prefect.logging.loggers import flow_run_logger

    try:
        from prefect.flow_engine import load_flow_run
    except ImportError:  # before 3.3

        def load_flow_run(run_id):
            from prefect.client.orchestration import get_client

            with get_client(sync_client=True) as client:
                return client.read_flow_run(run_id)

    try:
        from prefect.engine import handle_engine_signals
    except ImportError:  # before 3.3: the engine handles no signals itself
        from contextlib import nullcontext as handle_engine_signals

    try:
        from prefect.engine import _drive_run_flow_result as drive
    except ImportError:  # older prefect: only coroutines need driving

        def drive(flow, result):
            import asyncio

            if asyncio.iscoroutine(result):
                asyncio.run(result)

    takes_error_logger = "error_logger" in inspect.signature(run_flow).parameters

    def execute(run_id):
        run_id = UUID(run_id)
        with handle_engine_signals(run_id):
            flow_run = load_flow_run(run_id)
            extra = {"error_logger": flow_run_logger(flow_run)} if takes_error_logger else {}
            drive(flow, run_flow(flow, flow_run=flow_run, return_type="state", **extra))

    return execute


try:
    execute = engine()
    schema = openapi_schema(flow.fn)
except Exception as exc:  # noqa: BLE001 - a Prefect this helper cannot drive
    fail("version", f"{NEEDED} (this is {prefect.__version__}: {type(exc).__name__}: {exc})")

say(flow_name=flow.name, function=attr, parameter_schema=schema)


def flush_api_logs():
    # The run's last log lines are still queued for the API; send them before saying done.
    import logging

    from prefect.logging.handlers import APILogHandler

    for name in ("prefect.flow_runs", "prefect.task_runs", "prefect.extra", "prefect", ""):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, APILogHandler):
                try:
                    handler.flush()
                except Exception:  # noqa: BLE001 - flushing is best effort
                    pass


for line in sys.stdin:
    if not line.strip():
        continue
    run_id = line.strip()
    try:
        execute(run_id)
    except SystemExit:
        pass
    flush_api_logs()
    say(done=run_id)
