"""Test flows for pf's integration tests (deployed by tests/integration/worker.rs).

Each flow is quick, and each logs through the run logger so its lines reach the API:
- `hello`: logs `hello NAME line I` for I in 1..=LINES, then completes
- `fails`: logs `about to fail`, then raises (the run ends FAILED)
- `typed`: typed parameters; logs them back as one JSON line `params {...}`
- `sleeps`: logs `sleeping`, sleeps SECONDS, logs `woke up`
"""

import json
import time

from prefect import flow, get_run_logger


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
