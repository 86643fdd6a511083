"""Where a request id's claim lives: the ``RequestIds`` object keyed ``<pattern>:<request id>``.

Apart from handlers/request_ids.py so that readers (``agentpipe status``, ``cancel``) name
the object without importing, and so configuring, the service itself.
"""

from __future__ import annotations

REQUEST_IDS = "RequestIds"


def claim_key(pattern: str, request_id: str) -> str:
    return f"{pattern}:{request_id}"
