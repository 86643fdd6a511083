"""Invocations waiting inside Restate to start: the part of a backlog the topics do not show.

Restate's subscriptions take every record in as it arrives, and its invoker runs at most
`concurrent-invocations-limit` invocations per partition; above capacity the rest wait in Restate
with status ``ready`` (a chat session's next messages ``inboxed`` behind its current one). The
backlog waits there, not on the topics, because a record's priority is only known once it is read:
the provider budgets can serve interactive requests first only among the requests they can see.
"""

from __future__ import annotations

from dataclasses import dataclass

from producers.restate_sql import query

WAITING_STATUSES = ("ready", "inboxed")


@dataclass(frozen=True)
class WaitingInvocations:
    service: str
    handler: str  # a pattern's ``ingest``: records taken in; ``RequestIds/<pattern>``: requests handed on
    ready: int  # waiting for an invoker slot
    inboxed: int  # waiting behind their object's current invocation


def waiting_invocations() -> list[WaitingInvocations]:
    """Per service and handler, the invocations that have not started yet (busiest first)."""
    statuses = ", ".join(f"'{s}'" for s in WAITING_STATUSES)
    rows = query(
        "SELECT target_service_name AS service, target_handler_name AS handler, status, count(*) AS n "
        f"FROM sys_invocation WHERE status IN ({statuses}) "
        "GROUP BY target_service_name, target_handler_name, status"
    )
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for row in rows:
        key = (str(row.get("service")), str(row.get("handler")))
        counts.setdefault(key, {})[str(row.get("status"))] = int(row.get("n") or 0)
    found = [WaitingInvocations(s, h, c.get("ready", 0), c.get("inboxed", 0)) for (s, h), c in counts.items()]
    return sorted(found, key=lambda w: (-(w.ready + w.inboxed), w.service, w.handler))
