"""The demo's example flow: `hello/demo` says hello, counts a little, and completes."""
import time

from prefect import flow, get_run_logger, task


@task
def count(n: int) -> int:
    get_run_logger().info("counting %d", n)
    time.sleep(0.5)
    return n


@flow(name="hello")
def hello(name: str = "pf"):
    logger = get_run_logger()
    logger.info("Hello, %s!", name)
    total = sum(count(n) for n in range(1, 4))
    logger.info("counted to %d; goodbye", total)


if __name__ == "__main__":
    hello()
