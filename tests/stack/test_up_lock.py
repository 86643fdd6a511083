"""`agentpipe up` waits on its lock for a bounded time and names the process that holds it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stack import up_lock
from stack.errors import StackError

ROOT = Path(__file__).resolve().parents[2]
HOLDER = """
import sys
from pathlib import Path
from stack import up_lock
with up_lock.held(Path(sys.argv[1]), 5):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def test_a_held_lock_times_out_naming_the_holder_then_frees(tmp_path):
    path = tmp_path / "up.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        with pytest.raises(StackError) as caught, up_lock.held(path, timeout=0.5):
            pass
        assert 0.5 <= time.monotonic() - started < 5
        assert f"pid {holder.pid}" in str(caught.value)
    finally:
        holder.communicate("done\n", timeout=10)
    with up_lock.held(path, timeout=2):  # the holder is gone: the lock is free again
        assert path.read_text() == str(os.getpid())
