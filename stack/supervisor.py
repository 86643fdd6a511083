"""Supervisor of the local stack: starts each component in order, then restarts any that dies.

Runs detached (``python -m stack.supervisor``), started by ``agentpipe up`` and
stopped by ``agentpipe down`` (SIGTERM). Progress and failures go to
<state>/status.json, which ``up`` polls; every restart is logged.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import psutil

from agentpipe.logs import configure_logging, get_logger
from agentpipe.settings import get_settings
from stack.components import Component, child_env
from stack.errors import StackError
from stack.installs import log_tail
from stack.topology import stack_components

log = get_logger("supervisor")

BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 60.0  # a component that stayed up this long gets its backoff reset


class ComponentStatus(TypedDict):
    pid: int | None  # None while it is not running
    started_at: float | None  # the process's create time: tells a reused pid apart
    restarts: int
    log: str


class StackFailure(TypedDict):
    component: str
    cause: str
    log: str  # "" when there is no log to point at


class StackStatus(TypedDict):
    """What <state>/status.json holds."""

    pid: int  # the supervisor's
    state: str  # starting | ready | failed | stopped
    error: StackFailure | None
    components: dict[str, ComponentStatus]


@dataclass
class Running:
    component: Component
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    backoff_s: float = BACKOFF_INITIAL_S
    started_at: float = 0.0
    restart_at: float | None = None


def _create_time(process: subprocess.Popen[bytes] | None) -> float | None:
    if process is None or process.poll() is not None:
        return None
    try:
        return psutil.Process(process.pid).create_time()
    except psutil.Error:
        return None


class Supervisor:
    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self.status_file = state_dir / "status.json"
        self.running = [Running(c) for c in stack_components(get_settings(), state_dir)]
        self.stopping = False
        self.state = "starting"
        self.error: StackFailure | None = None

    def write_status(self) -> None:
        status: StackStatus = {
            "pid": os.getpid(),
            "state": self.state,
            "error": self.error,
            "components": {
                r.component.name: {
                    "pid": r.process.pid if r.process and r.process.poll() is None else None,
                    "started_at": _create_time(r.process),
                    "restarts": r.restarts,
                    "log": str(r.component.log_file(self.state_dir)),
                }
                for r in self.running
            },
        }
        tmp = self.status_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(status, indent=2))
        tmp.replace(self.status_file)

    def spawn(self, running: Running) -> subprocess.Popen[bytes]:
        component = running.component
        log_file = component.log_file(self.state_dir)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        command = component.command()
        with log_file.open("ab") as out:
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_env(component)
            )
        running.process = process
        running.started_at = time.monotonic()
        log.info("component started", component=component.name, pid=process.pid)
        self.write_status()
        return process

    def wait_healthy(self, component: Component, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + component.start_timeout_s
        while time.monotonic() < deadline and not self.stopping:
            if process.poll() is not None:
                tail = log_tail(component.log_file(self.state_dir), 3)
                raise StackError(
                    component.name,
                    f"exited with code {process.returncode} while starting: {tail}",
                    component.log_file(self.state_dir),
                )
            if component.healthy():
                log.info("component healthy", component=component.name)
                return
            time.sleep(0.2)
        if not self.stopping:
            raise StackError(
                component.name,
                f"not healthy after {component.start_timeout_s:.0f}s",
                component.log_file(self.state_dir),
            )

    def start_all(self) -> None:
        for running in self.running:
            if self.stopping:
                return
            self.wait_healthy(running.component, self.spawn(running))
        self.state = "ready"
        self.write_status()
        log.info("stack ready")

    def watch(self) -> None:
        while not self.stopping:
            now = time.monotonic()
            for running in self.running:
                process = running.process
                if running.restart_at is not None:
                    if now >= running.restart_at:
                        running.restart_at = None
                        running.restarts += 1
                        self.spawn(running)
                    continue
                if process is not None and process.poll() is not None:
                    if now - running.started_at > STABLE_AFTER_S:
                        running.backoff_s = BACKOFF_INITIAL_S
                    log.warning(
                        "component died, restarting",
                        component=running.component.name,
                        exit_code=process.returncode,
                        restart_in_s=running.backoff_s,
                    )
                    running.restart_at = now + running.backoff_s
                    running.backoff_s = min(running.backoff_s * 2, BACKOFF_MAX_S)
                    self.write_status()
            time.sleep(0.2)

    def stop_all(self) -> None:
        for running in reversed(self.running):
            process = running.process
            if process is None or process.poll() is not None:
                continue
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                log.warning("component ignored SIGTERM, killing", component=running.component.name)
                process.kill()
                process.wait(timeout=5)
            log.info("component stopped", component=running.component.name)

    def request_stop(self, *_args: object) -> None:
        self.stopping = True


def main() -> int:
    configure_logging("supervisor")
    state_dir = get_settings().state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor(state_dir)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    signal.signal(signal.SIGINT, supervisor.request_stop)
    supervisor.write_status()
    try:
        supervisor.start_all()
        supervisor.watch()
    except StackError as exc:
        supervisor.state = "failed"
        supervisor.error = {"component": exc.component, "cause": exc.cause, "log": str(exc.log_file or "")}
        log.error("stack failed", component=exc.component, cause=exc.cause)
    except Exception as exc:  # report anything unexpected through the status file
        supervisor.state = "failed"
        supervisor.error = {"component": "supervisor", "cause": repr(exc), "log": ""}
        log.exception("supervisor crashed")
    finally:
        supervisor.stop_all()
        if supervisor.state != "failed":
            supervisor.state = "stopped"
        supervisor.write_status()
    return 0 if supervisor.state == "stopped" else 1


if __name__ == "__main__":
    sys.exit(main())
