"""Test flows for pf's integration tests (deployed by tests/integration/worker.rs).

Each flow is quick, and each logs through the run logger so its lines reach the API:
- `hello`: logs `hello NAME line I` for I in 1..=LINES, then completes
- `fails`: logs `about to fail`, then raises (the run ends FAILED)
- `typed`: typed parameters; logs them back as one JSON line `params {...}`
- `sleeps`: logs `sleeping`, sleeps SECONDS, logs `woke up`
- `asks`: pauses for run input (`approved: bool`, `note: str = ""`), then logs `approved=… note=…`
- `tree`: task runs `add_one` (twice), a subflow `pf-child` with its own `add_one`, and a
  markdown artifact `pf-tree-total`
"""

import json
import time

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact


@flow(name="pf-hello")
def hello(name: str = "world", lines: int = 3) -> str:
    logger = get_run_logger()
    for i in range(1, lines + 1):
        logger.info("hello %s line %d", name, i)
    return f"hello {name}"


@flow(name="pf-fails")
def fails() -> None:
    get_run_logger().info("about to fail")
    raise ValueError("this flow fails on purpose")


@flow(name="pf-typed")
def typed(count: int, ratio: float = 1.0, names: list[str] = [], verbose: bool = False) -> None:
    params = {"count": count, "ratio": ratio, "names": names, "verbose": verbose}
    get_run_logger().info("params %s", json.dumps(params, sort_keys=True))


@flow(name="pf-sleeps")
def sleeps(seconds: float = 30.0) -> None:
    logger = get_run_logger()
    logger.info("sleeping")
    time.sleep(seconds)
    logger.info("woke up")


@flow(name="pf-asks")
def asks(timeout: int = 120) -> None:
    from prefect.flow_runs import pause_flow_run
    from prefect.input import RunInput

    class Approval(RunInput):
        approved: bool
        note: str = ""

    answer = pause_flow_run(wait_for_input=Approval, timeout=timeout)
    get_run_logger().info("approved=%s note=%s", answer.approved, answer.note)
@task
def add_one(x: int) -> int:
    get_run_logger().info("adding one to %d", x)
    return x + 1


@flow(name="pf-child")
def child(x: int = 1) -> int:
    return add_one(x)


@flow(name="pf-tree")
def tree() -> int:
    a = add_one(1)
    b = add_one(a)
    c = child(b)
    create_markdown_artifact(markdown=f"# total {c}", key="pf-tree-total", description="the total")
    get_run_logger().info("tree total %d", c)
    return c
