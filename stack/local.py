"""``agentpipe up`` / ``agentpipe down``: the local stack without Docker.

``up`` installs what is missing (cached), checks ports, starts the supervisor,
waits until every component is healthy, then creates topics, registers the
deployments and syncs subscriptions. Running it twice is harmless. ``down``
stops only what ``up`` started (the supervisor and its children).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psutil

from agentpipe.settings import get_settings
from stack import up_lock
from stack.components import port_open
from stack.errors import StackError
from stack.init import initialize
from stack.installs import kafka_classpath, log_tail, nginx_binary, restate_binaries, restatectl_binary
from stack.secrets import ensure_approval_key, ensure_identity_keys
from stack.supervisor import StackStatus
from stack.topology import stack_components
from subscriptions.restate_admin import SyncReport

Topology = Literal["single", "cluster"]


@dataclass
class UpReport:
    already_running: bool
    seconds: float
    created_topics: list[str]
    subscriptions: SyncReport


def state_dir() -> Path:
    """The state folder, made (or kept) private: it holds the stack's keys, logs and journals."""
    path = get_settings().state_dir.resolve()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def read_status() -> StackStatus | None:
    try:
        return json.loads((state_dir() / "status.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def supervisor_pid() -> int | None:
    status = read_status()
    if status and status.get("state") in ("starting", "ready") and psutil.pid_exists(status["pid"]):
        try:
            if "stack.supervisor" in " ".join(psutil.Process(status["pid"]).cmdline()):
                return status["pid"]
        except psutil.Error:
            return None
    return None


def approval_key() -> str:
    """The key approvals are signed with: the environment's, or one made once for this stack."""
    configured = get_settings().approval_key
    if configured is not None:
        return configured.get_secret_value()
    return ensure_approval_key(state_dir())


def _who_listens(port: int) -> str:
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                proc = psutil.Process(conn.pid)
                return f"pid {conn.pid} ({proc.name()})"
    except psutil.Error:
        pass
    return "another process"


def _can_bind(port: int) -> bool:
    # Components bind bind_host; a connect test misses a port held by an outgoing connection.
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is fine
        try:
            sock.bind((get_settings().bind_host, port))
            return True
        except OSError:
            return False


def check_ports_free() -> None:
    for component in stack_components(get_settings(), state_dir()):
        for port in component.ports:
            if port_open(port) or not _can_bind(port):
                raise StackError(component.name, f"port {port} is already in use by {_who_listens(port)}")


def _wait_ready(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = read_status()
        if status is not None and status.get("pid") == pid:
            if status.get("state") == "ready":
                return
            error = status.get("error")
            if status.get("state") == "failed" and error is not None:
                log = Path(error["log"]) if error.get("log") else None
                raise StackError(error["component"], error["cause"], log)
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            log = state_dir() / "logs" / "supervisor.log"
            raise StackError("supervisor", f"exited before the stack was ready: {log_tail(log, 3)}", log)
        time.sleep(0.2)
    status = read_status()
    raise StackError("stack", f"not ready after {timeout:.0f}s (state: {status.get('state') if status else None})")


def up(timeout: float = 180.0, topology: Topology | None = None) -> UpReport:
    """Start the stack; ``topology`` (single or cluster) is recorded in the state folder for later runs."""
    # Two `up` at once in one folder would race; the second waits (as long as an `up` may take,
    # then says who holds the lock) and then finds the stack running.
    with up_lock.held(state_dir() / "up.lock", timeout):
        if topology is not None:
            _choose_topology(topology)
        return _up(timeout)


def _choose_topology(topology: Topology) -> None:
    recorded = get_settings().topology
    if topology != recorded and supervisor_pid() is not None:
        raise StackError(
            "stack", f"a {recorded} stack runs in {state_dir()}; `agentpipe down` first to start a {topology} one"
        )
    (state_dir() / "topology").write_text(topology + "\n")
    get_settings.cache_clear()  # the topology sets the brokers and ports every later step uses


def _up(timeout: float) -> UpReport:
    started = time.monotonic()
    directory = state_dir()
    already = supervisor_pid() is not None
    if not already:
        check_ports_free()
        # Fetch in the foreground so install errors (no java, registry unreachable) surface here.
        kafka_classpath(directory / "logs")
        restate_binaries(directory / "logs")
        if get_settings().topology == "cluster":
            restatectl_binary(directory / "logs")
            nginx_binary()
        ensure_identity_keys(directory)
        approval_key()  # made once per state folder; the agent service reads it there, no other process sees it
        env = {**os.environ, "AGENTPIPE_STATE_DIR": str(directory)}
        (directory / "logs").mkdir(exist_ok=True)
        with (directory / "logs" / "supervisor.log").open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "stack.supervisor"],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
                cwd=Path(__file__).resolve().parent.parent,
            )
        try:
            _wait_ready(process.pid, timeout)
        except StackError:
            down()
            raise
    # Topics, deployments, subscriptions: retried until the deadline, failures as StackError.
    init = initialize(timeout=max(timeout - (time.monotonic() - started), 15.0))
    return UpReport(already, time.monotonic() - started, init.created_topics, init.subscriptions)


def down(timeout: float = 60.0) -> bool:
    """Stop the supervisor (which stops its children). Returns False when nothing was running."""
    status = read_status()
    pid = supervisor_pid()
    if pid is None and not status:
        return False
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        try:
            psutil.Process(pid).wait(timeout=timeout)
        except psutil.NoSuchProcess:
            pass
        except psutil.TimeoutExpired:
            os.kill(pid, signal.SIGKILL)
    # A supervisor killed hard leaves children behind: stop those it recorded.
    for info in (status.get("components", {}) if status else {}).values():
        child = info.get("pid")
        try:
            process = psutil.Process(child) if child else None
            # A pid may have been reused since the supervisor wrote it: compare start times.
            if process and abs(process.create_time() - (info.get("started_at") or 0)) < 1.0:
                process.kill()
        except psutil.Error:
            pass
    return pid is not None
