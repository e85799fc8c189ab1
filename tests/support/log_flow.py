"""A flow that logs numbered lines, run directly by Python against PREFECT_API_URL (no worker).

usage: log_flow.py NAME COUNT INTERVAL_SECONDS [fail]
Prints the flow run's id on stdout as soon as the run exists, then logs `line 1` … `line COUNT`
(one every INTERVAL seconds, a WARNING every 5th), and fails at the end when told to.
"""
import sys
import time

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

name, count, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
fail = len(sys.argv) > 4 and sys.argv[4] == "fail"


@flow(name=name, log_prints=False)
def log_lines():
    print(flow_run.id, flush=True)
    logger = get_run_logger()
    for i in range(1, count + 1):
        if i % 5 == 0:
            logger.warning("line %d", i)
        else:
            logger.info("line %d", i)
        time.sleep(interval)
    if fail:
        raise RuntimeError("failing on purpose")


if __name__ == "__main__":
    try:
        log_lines()
    except RuntimeError:
        sys.exit(1)
