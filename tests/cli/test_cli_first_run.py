"""The newcomer's first run: no stack, an empty state folder, `agentpipe demo` starts the stack itself
and gets ten ok results, the approval signed with the key `up` has just written.

It runs a stack of its own (own ports, own folder found by the nearest-.agentpipe rule), so it
neither needs nor disturbs the session's stack, and it always stops it with `down`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from handlers.catalog import PATTERNS
from tests.cli.cli_run import COMMAND
from tests.ports import free_port

PORT_VARIABLES = (
    "KAFKA_PORT",
    "KAFKA_CONTROLLER_PORT",
    "RESTATE_INGRESS_PORT",
    "RESTATE_ADMIN_PORT",
    "RESTATE_NODE_PORT",
    "AGENT_SERVICE_PORT",
    "REMOTE_AGENTS_PORT",
    "OFFLINE_MODEL_PORT",
)
# Starts a stack of its own (Java, npm) without the session's fixture.
pytestmark = pytest.mark.stack

# What would point the CLI at another stack or another model: a first run has none of it.
INHERITED = (
    "AGENTPIPE_STATE_DIR",
    "AGENTPIPE_APPROVAL_KEY",
    "AGENTPIPE_KAFKA_BOOTSTRAP",
    "AGENTPIPE_RESTATE_INGRESS_URL",
    "AGENTPIPE_RESTATE_ADMIN_URL",
    "AGENTPIPE_AGENT_SERVICE_URL",
    "AGENTPIPE_REMOTE_AGENTS_URL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_MODEL",
)


def first_run_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in INHERITED}
    ports: set[int] = set()
    for name in PORT_VARIABLES:
        port = free_port()
        while port in ports:
            port = free_port()
        ports.add(port)
        env[f"AGENTPIPE_{name}"] = str(port)
    return {**env, "COLUMNS": "200"}


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    # restate-server puts unix sockets under its data folder, and a socket path must fit in
    # 108 bytes: pytest's tmp_path is too deep for that.
    folder = Path(tempfile.mkdtemp(prefix="ap-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_demo_on_a_fresh_machine_starts_the_stack_and_gets_ten_ok(short_tmp):
    project = short_tmp / "project"
    (project / ".agentpipe").mkdir(parents=True)  # what ./dev makes; empty: nothing ran here yet
    env = first_run_env()

    def agentpipe(*args: str, timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=timeout, cwd=project, env=env)

    try:
        proc = agentpipe("demo", timeout=420)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "stack: started" in proc.stderr, proc.stderr
        rows = {m[1]: m[2] for m in re.finditer(r"^│ (\S+)\s+│ (\S+)\s+│", proc.stdout, re.MULTILINE)}
        assert rows == {pattern: "ok" for pattern in PATTERNS}, proc.stdout
        assert "approved by agentpipe-demo" in proc.stdout
        # The stack lives in the folder the CLI found, with the key the approval was signed with.
        assert (project / ".agentpipe" / "approval.key").read_text().strip()
        assert (project / ".agentpipe" / "status.json").exists()
    finally:
        down = agentpipe("down", timeout=120)
        assert down.returncode == 0, down.stderr
    # A clean stop: the services closed their connections (an open aiohttp session logs an error).
    for service in ("agent-service", "remote-agents"):
        log = (project / ".agentpipe" / "logs" / f"{service}.log").read_text()
        assert "Unclosed" not in log and "Traceback" not in log, f"{service}.log:\n{log[-2000:]}"
