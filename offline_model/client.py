"""Synchronous control client for the offline model (a deterministic stand-in
for a real LLM): set latency, queue faults, read the call log.

Tests and benchmarks use it::

    control = OfflineModelControl("http://127.0.0.1:9099")
    control.fail_next(2, 429, match="req-7")
    ...
    calls = control.calls(request_id="req-7")
"""

from __future__ import annotations

import time
from typing import Any

import httpx

DEFAULT_BASE_URL = "http://127.0.0.1:9099"


class OfflineModelControl:
    def __init__(self, base_url: str = DEFAULT_BASE_URL, timeout: float = 10.0) -> None:
        # Accept the OpenAI-style base URL too ("http://host:port/v1").
        base_url = base_url.rstrip("/")
        if base_url.endswith("/v1"):
            base_url = base_url[: -len("/v1")]
        self.base_url = base_url
        self._http = httpx.Client(base_url=base_url, timeout=timeout)

    # -- controls; each returns the server's new control state --------------

    def set_latency(self, ms: float) -> dict[str, Any]:
        return self._post("/control/latency", {"ms": ms})

    def set_variant(self, variant: str) -> dict[str, Any]:
        """Answer with rule set "a" (the default) or "b" (a second deterministic variant, for experiments)."""
        return self._post("/control/variant", {"variant": variant})

    def fail_next(
        self, count: int, status: int = 500, match: str | None = None, step: str | None = None
    ) -> dict[str, Any]:
        return self._post("/control/fail", {"count": count, "status": status, "match": match, "step": step})

    def hang_next(
        self, count: int, seconds: float, match: str | None = None, step: str | None = None
    ) -> dict[str, Any]:
        return self._post("/control/hang", {"count": count, "seconds": seconds, "match": match, "step": step})

    def malformed_tool_args(self, count: int, match: str | None = None) -> dict[str, Any]:
        return self._post("/control/malformed-tool-args", {"count": count, "match": match})

    def malformed_json(self, count: int, match: str | None = None) -> dict[str, Any]:
        return self._post("/control/malformed-json", {"count": count, "match": match})

    def set_limits(
        self,
        requests_per_s: float | None = None,
        tokens_per_min: float | None = None,
        burst_s: float = 1.0,
        model: str | None = None,
    ) -> dict[str, Any]:
        """Answer 429, as OpenAI does, beyond these rates (for ``model``, else every model); None: no limit."""
        body: dict[str, Any] = {"requests_per_s": requests_per_s, "tokens_per_min": tokens_per_min, "burst_s": burst_s}
        if model is not None:
            body["model"] = model
        return self._post("/control/limits", body)

    def reset(self) -> dict[str, Any]:
        """Clear all faults and latency, and the limits set since start (the call log stays)."""
        return self._post("/control/reset", {})

    def state(self) -> dict[str, Any]:
        return self._get("/control")

    # -- call log -------------------------------------------------------------

    def calls(self, request_id: str | None = None) -> list[dict[str, Any]]:
        params = {"request_id": request_id} if request_id is not None else None
        return self._get("/calls", params=params)["calls"]

    def clear_calls(self) -> None:
        self._http.delete("/calls").raise_for_status()

    # -- liveness -------------------------------------------------------------

    def health(self) -> bool:
        try:
            return self._http.get("/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_healthy(self, timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.health():
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OfflineModelControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        response = self._http.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self._http.post(path, json={k: v for k, v in body.items() if v is not None})
        response.raise_for_status()
        return response.json()
