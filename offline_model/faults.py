"""Run-time controls and the call log of the offline model (a deterministic
stand-in for a real LLM).

Faults are queued with a count and an optional request-id substring; each
completion consumes at most one matching fault. Everything runs on one event
loop, so no locks are needed.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

HANG = "hang"
FAIL = "fail"
MALFORMED_TOOL_ARGS = "malformed_tool_args"
MALFORMED_JSON = "malformed_json"
KINDS = (HANG, FAIL, MALFORMED_TOOL_ARGS, MALFORMED_JSON)


@dataclass
class Fault:
    kind: str
    remaining: int
    match: str | None = None  # substring of X-Agentpipe-Request-Id; None matches every call
    status: int | None = None  # FAIL only
    seconds: float | None = None  # HANG only

    step: str | None = None  # substring of X-Agentpipe-Step; None matches every step

    def matches(self, request_id: str | None, step: str | None = None) -> bool:
        return (self.match is None or (request_id is not None and self.match in request_id)) and (
            self.step is None or (step is not None and self.step in step)
        )


# The rule sets the model answers with: "a" (the default) and "b", a second deterministic variant
# for experiments (a replay compared with its originals sees exactly which answers changed).
VARIANTS = ("a", "b")


class Controls:
    def __init__(self) -> None:
        self.latency_ms = 0.0
        self.variant = "a"
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        if fault.remaining > 0:
            self.faults.append(fault)

    def take(self, kind: str, request_id: str | None, step: str | None = None) -> Fault | None:
        """Consume one use of the oldest matching fault of ``kind``."""
        for fault in self.faults:
            if fault.kind == kind and fault.matches(request_id, step):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def reset(self) -> None:
        self.latency_ms = 0.0
        self.variant = "a"
        self.faults.clear()

    def state(self) -> dict[str, Any]:
        return {"latency_ms": self.latency_ms, "variant": self.variant, "faults": [asdict(f) for f in self.faults]}


class CallLog:
    """Every completion call, newest last; bounded so long benchmarks cannot exhaust memory."""

    def __init__(self, maxlen: int = 200_000) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=maxlen)

    def start(self, request_id: str | None, step: str | None, pattern: str | None, tools: list[str]) -> dict[str, Any]:
        # Logged at start (finished_at None) so in-flight and hung calls are visible.
        entry = {
            "request_id": request_id,
            "step": step,
            "pattern": pattern,
            "started_at": time.time(),
            "finished_at": None,
            "status": None,
            "fault": None,
            "tools": tools,
            "tool_calls": [],
            "rule": None,
        }
        self._entries.append(entry)
        return entry

    @staticmethod
    def finish(entry: dict[str, Any], status: int, fault: str | None = None, **extra: Any) -> None:
        entry.update(status=status, fault=fault, finished_at=time.time(), **extra)

    def entries(self, request_id: str | None = None) -> list[dict[str, Any]]:
        return [dict(e) for e in self._entries if request_id is None or e["request_id"] == request_id]

    def clear(self) -> None:
        self._entries.clear()
