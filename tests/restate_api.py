"""Restate's admin SQL introspection and HTTP ingress, for tests that look inside the journal or call handlers."""

from __future__ import annotations

import json
import time

import httpx

from agentpipe.settings import get_settings
from producers.invocations import claimed_invocations
from producers.restate_sql import query, sql_literal


def sql(statement: str) -> list[dict]:
    return query(statement, timeout=30)


def invocation_of(pattern: str, request_id: str, timeout: float = 30.0) -> dict:
    """The invocation that runs a Kafka request of ``pattern``: the one its request-id claim names."""
    deadline = time.monotonic() + timeout
    while True:
        claimed = claimed_invocations(request_id, patterns=(pattern,))
        rows = claimed and sql(
            "SELECT id, status, journal_size FROM sys_invocation "
            f"WHERE id IN ({', '.join(sql_literal(i) for i in claimed)})"
        )
        if rows or time.monotonic() > deadline:
            assert rows, f"no {pattern} invocation for request {request_id}"
            return rows[0]
        time.sleep(0.2)


def journal(invocation_id: str) -> list[dict]:
    rows = sql(
        f"SELECT index, entry_type, name, appended_at FROM sys_journal WHERE id = '{invocation_id}' ORDER BY index"
    )
    # The query API leaves out null columns.
    return [{"name": None, "appended_at": None, **row} for row in rows]


def ingress(path: str, body: dict | None = None):
    """Call a handler over Restate's HTTP ingress; returns the decoded JSON (None for an empty reply).

    Handlers without input must get no body at all, so ``body=None`` sends none.
    """
    url = f"{get_settings().restate_ingress_url}/{path}"
    response = httpx.post(url, json=body, timeout=30) if body is not None else httpx.post(url, timeout=30)
    response.raise_for_status()
    return response.json() if response.content else None


def behind_the_front() -> httpx.Client:
    """A client of restate-server's own ingress, on its Unix socket: what the front stands before.

    The single-node stack's (tests run it); a test uses it to show that Restate itself refuses too.
    """
    from stack.components import SINGLE_NODE_NAME, restate_sockets
    from stack.front import reachable_socket

    ingress_socket, _admin = restate_sockets(get_settings().state_dir.resolve() / "restate-data", SINGLE_NODE_NAME)
    transport = httpx.HTTPTransport(uds=reachable_socket(ingress_socket))
    return httpx.Client(transport=transport, base_url="http://restate", timeout=10)


def state_of(service: str, key: str) -> dict:
    """The state of one Virtual Object or Workflow key, read through SQL introspection ({} when none)."""
    rows = sql(f"SELECT key, value_utf8 FROM state WHERE service_name = '{service}' AND service_key = '{key}'")
    return {row["key"]: json.loads(row["value_utf8"]) for row in rows}
