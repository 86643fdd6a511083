"""Status and cancellation of a request, through Restate's admin API and its SQL introspection.

A request from Kafka runs in the invocation that holds its request-id claim
(``RequestIds/<pattern>``; chat: the session's ``ingest``), and the claim in
Restate's state names that invocation;
a request sent over HTTP with its id as idempotency key is found by
``sys_invocation.idempotency_key``. Its journal length, status and completion come from there; a
moderation waiting for a person is told by its pending review in Restate's state
(producers.approval_state), and a cancelled one by the cancel signal in its journal
(the handler turns cancellation into an ``error`` result and then completes
normally, so the completion alone does not say it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, TypedDict, cast

from agentpipe.claim_keys import FIRST, REQUEST_IDS, claim_key, session_claim_key, taker_handler
from agentpipe.flow import PROVIDER_BUDGET
from agentpipe.patterns import PATTERNS
from agentpipe.settings import get_settings
from producers.approval_state import ApprovalState
from producers.errors import NotFound, NotOk, WaitTimeout
from producers.restate_sql import admin_errors, query, sql_literal
from subscriptions.restate_admin import AdminApiError, admin_client

HITL = "human-in-the-loop"

# Restate's built-in signal that carries a cancellation (service protocol v4+).
CANCEL_SIGNAL_INDEX = 1
QUEUED = {"pending", "scheduled", "ready", "inboxed"}


class InvocationRow(TypedDict):
    """The columns of sys_invocation that ``find_invocation`` selects."""

    id: str
    target: str
    target_service_name: str
    target_handler_name: str
    status: str  # pending | scheduled | ready | running | backing-off | suspended | paused | completed ...
    journal_size: int | None
    created_at: str | None
    modified_at: str | None
    completed_at: str | None
    completion_result: str | None  # success | failure, once completed
    completion_failure: str | None
    last_failure: str | None


@dataclass
class RequestStatus:
    request_id: str
    state: str  # queued | running | suspended | retrying | paused | waiting for approval | done | failed | cancelled
    restate_status: str
    invocation_id: str
    target: str
    journal_size: int
    created_at: str | None
    modified_at: str | None
    completed_at: str | None
    failure: str | None = None
    approval_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


INVOCATION_COLUMNS = (
    "id, target, target_service_name, target_handler_name, status, journal_size, created_at, modified_at, completed_at, "
    "completion_result, completion_failure, last_failure"
)


def claimed_invocations(*request_ids: str, patterns: Iterable[str] = PATTERNS) -> list[str]:
    """Ids of the invocations that took these request ids from Kafka (one per pattern that saw an id)."""
    chosen = [PATTERNS[name] for name in patterns]
    where = []
    keys = ", ".join(sql_literal(claim_key(p.name, rid)) for rid in request_ids for p in chosen if not p.keyed)
    if keys:
        where.append(
            f"(service_name = {sql_literal(REQUEST_IDS)} AND service_key IN ({keys}) AND key = {sql_literal(FIRST)})"
        )
    for pattern in (p for p in chosen if p.keyed):  # chat: the session's object keeps its messages' claims
        state_keys = ", ".join(sql_literal(session_claim_key(rid)) for rid in request_ids)
        if state_keys:
            where.append(f"(service_name = {sql_literal(pattern.service)} AND key IN ({state_keys}))")
    if not where:
        return []
    rows = query(f"SELECT value_utf8 FROM state WHERE {' OR '.join(where)}")
    found = []
    for row in rows:
        try:
            invocation_id = json.loads(row.get("value_utf8") or "null").get("invocation_id")
        except (ValueError, AttributeError):
            continue  # not a claim this version wrote
        if isinstance(invocation_id, str):
            found.append(invocation_id)
    return found


def find_invocation(request_id: str) -> InvocationRow | None:
    """The newest invocation that runs ``request_id``: claimed from Kafka, or called with it as idempotency key."""
    claimed = claimed_invocations(request_id)
    where = f"idempotency_key = {sql_literal(request_id)}"
    if claimed:
        where += f" OR id IN ({', '.join(sql_literal(i) for i in claimed)})"
    rows = query(f"SELECT {INVOCATION_COLUMNS} FROM sys_invocation WHERE {where} ORDER BY created_at DESC LIMIT 1")
    # Restate's schema gives these columns these types; the query names each of them.
    return cast(InvocationRow, rows[0]) if rows else None


def was_cancelled(invocation: InvocationRow) -> bool:
    if "cancel" in (invocation.get("completion_failure") or "").lower():
        return True
    rows = query(
        f"SELECT COUNT(*) AS n FROM sys_journal WHERE id = {sql_literal(invocation['id'])} "
        "AND entry_type = 'Notification: Signal' "
        f"AND entry_lite_json LIKE '%\"SignalIndex\":{CANCEL_SIGNAL_INDEX}}}%'"
    )
    return bool(rows and rows[0]["n"])


def pending_approval_for(request_id: str) -> str | None:
    return next((a.approval_id for a in ApprovalState().pending() if a.request["request_id"] == request_id), None)


def _state(invocation: InvocationRow, request_id: str) -> tuple[str, str | None]:
    restate_status = invocation["status"]
    if restate_status == "completed":
        if was_cancelled(invocation):
            return "cancelled", None
        return ("done", None) if invocation.get("completion_result") == "success" else ("failed", None)
    if invocation["target_service_name"] == PATTERNS[HITL].service or invocation.get(
        "target_handler_name"
    ) == taker_handler(HITL):
        approval_id = pending_approval_for(request_id)
        if approval_id:
            return "waiting for approval", approval_id
    if restate_status in QUEUED:
        return "queued", None
    return {"backing-off": "retrying"}.get(restate_status, restate_status), None


@dataclass(frozen=True)
class BudgetWait:
    budget: str  # the budget's key: <provider>/<model>
    queue: str
    since: float  # epoch seconds
    parked: bool  # waits unstarted (its invocation ended; the budget starts it)


def waiting_in_budget(request_id: str) -> BudgetWait | None:
    """The budget queue entry of a request that waits for a permit, if it does (producers/flow_view.py)."""
    # Waiter entries are JSON with the request id in a field of its own, written by pydantic. A '%' or
    # '_' in the id matches more rows than its own, never fewer: the rows are checked below.
    pattern = "%" + json.dumps({"request_id": request_id}, separators=(",", ":"))[1:-1] + "%"
    rows = query(
        f"SELECT service_key, key, value_utf8 FROM state WHERE service_name = {sql_literal(PROVIDER_BUDGET)} "
        f"AND key LIKE 'waiter:%' AND value_utf8 LIKE {sql_literal(pattern)} LIMIT 10"
    )
    for row in rows:
        try:
            waiter = json.loads(row.get("value_utf8") or "null")
        except ValueError:
            continue
        if isinstance(waiter, dict) and waiter.get("request_id") == request_id:
            queue = str(row["key"]).split(":")[1] if ":" in str(row["key"]) else "?"
            parked = waiter.get("parking") is not None
            return BudgetWait(str(row["service_key"]), queue, float(waiter.get("asked_at") or 0.0), parked)
    return None


def request_status(request_id: str) -> RequestStatus:
    wait = waiting_in_budget(request_id)
    if wait is not None and wait.parked:
        # Not started, or started over: no invocation runs it while its model's budget has no room.
        return RequestStatus(
            request_id=request_id,
            state="waiting for the model's budget",
            restate_status="parked",
            invocation_id="",
            target=f"{PROVIDER_BUDGET}/{wait.budget} ({wait.queue} queue)",
            journal_size=0,
            created_at=None,
            modified_at=None,
            completed_at=None,
        )
    invocation = find_invocation(request_id)
    if invocation is None:
        raise NotFound(f"no invocation for request id {request_id!r} (unknown, not yet delivered, or past retention)")
    state, approval_id = _state(invocation, request_id)
    return RequestStatus(
        request_id=request_id,
        state=state,
        restate_status=invocation["status"],
        invocation_id=invocation["id"],
        target=invocation["target"],
        journal_size=invocation.get("journal_size") or 0,
        created_at=invocation.get("created_at"),
        modified_at=invocation.get("modified_at"),
        completed_at=invocation.get("completed_at"),
        failure=invocation.get("completion_failure") or invocation.get("last_failure"),
        approval_id=approval_id,
    )


def cancel_request(request_id: str, timeout: float = 30.0) -> RequestStatus:
    """Ask Restate to cancel the request's invocation and wait until it has stopped."""
    status = request_status(request_id)
    if status.restate_status == "parked":
        raise NotOk(
            f"request {request_id} waits for its model's budget and has not started ({status.target}); "
            "it can be cancelled once it runs, and ends with an error if its deadline passes first"
        )
    if status.restate_status == "completed":
        raise NotOk(f"request {request_id} is already {status.state} ({status.invocation_id}); nothing to cancel")
    with admin_errors(), admin_client(timeout=get_settings().client_admin_timeout_s) as client:
        response = client.patch(f"/invocations/{status.invocation_id}/cancel")
        if response.status_code == 404:
            raise NotFound(f"invocation {status.invocation_id} is gone")
        if response.status_code >= 400:
            raise AdminApiError(f"cancel {status.invocation_id}: HTTP {response.status_code}: {response.text[:300]}")
    deadline = time.monotonic() + timeout
    while (invocation := find_invocation(request_id)) is None or invocation["status"] != "completed":
        if time.monotonic() > deadline:
            raise WaitTimeout(
                f"cancel of {status.invocation_id} requested, but it had not stopped after {timeout:.0f}s"
            )
        time.sleep(0.2)
    return request_status(request_id)
