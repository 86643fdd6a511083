"""The lock that keeps two `agentpipe up` in one state folder from racing.

The holder writes its pid into the lock file, so a second `up` that gives up
waiting can say who holds it. flock locks die with their process: a stale pid
in the file never blocks anyone.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stack.errors import StackError


def lock_holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        pid = ""
    return f"pid {pid}" if pid.isdigit() else "another process"


@contextmanager
def held(path: Path, timeout: float) -> Iterator[None]:
    """Hold the lock at ``path``, waiting at most ``timeout`` seconds for it."""
    # "a": opening must not wipe the holder's pid before we own the lock.
    with path.open("a+") as lock:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StackError(
                        "stack",
                        f"another `agentpipe up` ({lock_holder(path)}) has held {path} for "
                        f"{timeout:.0f}s; wait for it or stop it",
                    ) from None
                time.sleep(0.2)
        lock.truncate(0)
        lock.write(str(os.getpid()))
        lock.flush()
        try:
            yield
        finally:
            lock.truncate(0)
            lock.flush()
