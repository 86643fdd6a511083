"""`agentpipe demo`: ten patterns through Kafka, the approval answered, ten ok rows, exit 0."""

from __future__ import annotations

import re

from handlers.catalog import PATTERNS
from tests.cli.cli_run import agentpipe


def test_demo_prints_ten_ok_rows_and_exits_0(stack):
    proc = agentpipe("demo", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {m[1]: m[2] for m in re.finditer(r"^│ (\S+)\s+│ (\S+)\s+│", proc.stdout, re.MULTILINE)}
    assert rows == {pattern: "ok" for pattern in PATTERNS}, proc.stdout
    assert "approved by agentpipe-demo" in proc.stdout
    assert "stack: running" in proc.stderr
