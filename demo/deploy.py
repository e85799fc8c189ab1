"""Deploy demo/hello.py as `hello/demo` on a process work pool (usage: deploy.py POOL)."""
import sys
from pathlib import Path

from prefect import flow

if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    flow.from_source(source=str(here), entrypoint="hello.py:hello").deploy(
        name="demo", work_pool_name=sys.argv[1], print_next_steps=False
    )
