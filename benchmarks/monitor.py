"""What the benchmark watches besides latency: the stack's processes (RSS, CPU),
the machine it runs on, and Restate's SQL introspection API.

Process ids come from ``<state_dir>/status.json``, written by the stack supervisor.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from agentpipe.settings import get_settings
from producers.restate_sql import query

MB = 1024 * 1024


def stack_pids() -> dict[str, int]:
    """Component name → pid of the running local stack (agent-service, restate, kafka, ...)."""
    status_file = Path(get_settings().state_dir).resolve() / "status.json"
    try:
        status = json.loads(status_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        raise RuntimeError(f"no running stack: {status_file} is missing; start one with `agentpipe up`") from None
    pids = {name: info.get("pid") for name, info in status.get("components", {}).items()}
    return {name: pid for name, pid in pids.items() if pid and psutil.pid_exists(pid)}


def machine() -> dict:
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def background_load(seconds: float = 3.0, exclude: set[int] | None = None) -> dict:
    """How busy the machine is before we start: whole-machine CPU (% of all cores) and what other processes take
    (% of one core).

    ``exclude`` are the stack's pids (idle stack components are not "other work").
    """
    load = os.getloadavg()
    others = []
    for proc in psutil.process_iter():
        if proc.pid in (exclude or set()) or proc.pid == os.getpid():
            continue
        try:
            proc.cpu_percent(None)
            others.append(proc)
        except psutil.Error:
            pass
    system = psutil.cpu_percent(interval=seconds)
    other = 0.0
    for proc in others:
        with contextlib.suppress(psutil.Error):
            other += proc.cpu_percent(None)
    return {"loadavg_1m": round(load[0], 2), "system_cpu_pct": system, "other_processes_cpu_pct": round(other, 1)}


@dataclass
class Sample:
    t: float
    rss: dict[str, int]
    cpu: dict[str, float]
    system_cpu: float


@dataclass
class ProcessSampler:
    """Samples RSS and CPU of named processes in a thread; summaries are taken per time window."""

    pids: dict[str, int]
    interval: float = 0.25
    samples: list[Sample] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._procs: dict[str, psutil.Process] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        for name, pid in self.pids.items():
            self.watch(name, pid)
        psutil.cpu_percent(None)
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def watch(self, name: str, pid: int) -> None:
        try:
            proc = psutil.Process(pid)
            proc.cpu_percent(None)  # the first call only primes the counter
        except psutil.Error:
            return
        with self._lock:
            self._procs[name] = proc

    def unwatch(self, name: str) -> None:
        with self._lock:
            self._procs.pop(name, None)

    def start(self) -> ProcessSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            rss, cpu = {}, {}
            with self._lock:
                procs = dict(self._procs)
            for name, proc in procs.items():
                try:
                    with proc.oneshot():
                        rss[name] = proc.memory_info().rss
                        cpu[name] = proc.cpu_percent(None)
                except psutil.Error:
                    continue
            # Whole-machine CPU in the same unit as the processes: % of one core (2 cores = 200%).
            system = psutil.cpu_percent(None) * (psutil.cpu_count() or 1)
            self.samples.append(Sample(time.monotonic(), rss, cpu, system))

    def summary(self, start: float, end: float) -> dict:
        window = [s for s in self.samples if start <= s.t <= end]
        out: dict = {
            "system_cpu_pct": _mean([s.system_cpu for s in window]),
            # What the machine spent outside the processes we watch: other sessions, the kernel.
            "others_cpu_pct": _mean([max(0.0, s.system_cpu - sum(s.cpu.values())) for s in window]),
        }
        names = {name for s in window for name in s.rss}
        for name in sorted(names):
            rss = [s.rss[name] for s in window if name in s.rss]
            cpu = [s.cpu[name] for s in window if name in s.cpu]
            out[name] = {
                "rss_max_mb": round(max(rss) / MB, 1),
                "rss_mean_mb": round(sum(rss) / len(rss) / MB, 1),
                "cpu_mean_pct": _mean(cpu),
            }
        return out


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def sql(statement: str, timeout: float = 30.0) -> list[dict]:
    """Restate's admin SQL introspection API (sys_invocation, sys_journal, ...), waiting up to 30 s by default."""
    return query(statement, timeout)
