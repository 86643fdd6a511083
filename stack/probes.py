"""Is it answering? The HTTP probe the stack's readiness checks and `agentpipe cluster` share.

Apart from stack/components.py so that the client side can ask without importing the stack's
component table (and through it the services' code).
"""

from __future__ import annotations

import httpx


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False
