"""Run a command in its own process group and tear the whole group down when told to, when the
command exits, or when the test process that started us is gone (even if it was killed).

usage: supervise.py PARENT_PID SIGNALS -- COMMAND...
SIGNALS is how many SIGINT/SIGTERM rounds to send before SIGKILL (a Prefect worker needs two).
"""
import os
import signal
import subprocess
import sys
import time

parent = int(sys.argv[1])
rounds = int(sys.argv[2])
command = sys.argv[sys.argv.index("--") + 1 :]
child = subprocess.Popen(command, start_new_session=True)
stop = False


def request_stop(signum, frame):
    global stop
    stop = True


signal.signal(signal.SIGTERM, request_stop)
signal.signal(signal.SIGINT, request_stop)


def parent_alive():
    try:
        os.kill(parent, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return os.getppid() == parent


while not stop and child.poll() is None and parent_alive():
    time.sleep(0.2)


def group_alive():
    try:
        os.killpg(child.pid, 0)
        return True
    except ProcessLookupError:
        return False


for sig in [signal.SIGINT, signal.SIGTERM][:rounds] if rounds > 1 else [signal.SIGTERM]:
    if not group_alive():
        break
    try:
        os.killpg(child.pid, sig)
    except ProcessLookupError:
        break
    deadline = time.time() + (1.5 if sig == signal.SIGINT else 8)
    while time.time() < deadline and group_alive():
        try:
            child.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            pass
if group_alive():
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
try:
    child.wait(timeout=5)
except subprocess.TimeoutExpired:
    pass
