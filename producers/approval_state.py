"""Approvals as Restate holds them: read through the admin API's SQL introspection.

Reading Restate's state costs the same however long the topics are, where
folding the approval topics from offset 0 grows with every approval ever made.

``ApprovalShape`` describes where the review keeps its state, so the reader
follows the handler without changing its queries: ``ApprovalReview``, a
workflow keyed by approval id with ``status``, ``request_id`` and
``requested`` (the approval request as published).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from producers.restate_sql import query, sql_literal
from producers.shapes import ApprovalRequestValue, SkipCount, as_approval_request

PENDING = "pending"


@dataclass(frozen=True)
class ApprovalShape:
    service: str
    state_keys: tuple[str, ...]
    status_key: str
    # state values of one approval (key -> parsed JSON) -> its approval request (unchecked) and status
    read: Callable[[str, dict[str, Any]], tuple[dict[str, Any] | None, str | None]]
    # the handler whose unfinished invocation means someone may still decide
    waiting_handler: str


def _read_review(approval_id: str, values: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    status = values.get("status")
    requested = values.get("requested")
    return (requested if isinstance(requested, dict) else None), (status if isinstance(status, str) else None)


REVIEW_WORKFLOW = ApprovalShape("ApprovalReview", ("status", "request_id", "requested"), "status", _read_review, "run")


def sql_list(values: list[str]) -> str:
    return ", ".join(sql_literal(v) for v in values)


@dataclass
class Approval:
    approval_id: str
    status: str
    request: ApprovalRequestValue | None  # None until the approval request is published
    waiting: bool  # the review's invocation has not finished


@dataclass(frozen=True)
class PendingApproval:
    """An approval a person can decide: status pending, request published, review still running."""

    approval_id: str
    request: ApprovalRequestValue


class ApprovalState:
    """Approvals of one shape; rows of the wrong shape are skipped and counted."""

    def __init__(self, shape: ApprovalShape | None = None):
        self.shape = shape or REVIEW_WORKFLOW
        self.skipped = SkipCount()

    def _values(self, join: str = "", condition: str = "") -> dict[str, dict[str, Any]]:
        shape = self.shape
        rows = query(
            f"SELECT s.service_key, s.key, s.value_utf8 FROM state s {join} "
            f"WHERE s.service_name = {sql_literal(shape.service)} "
            f"AND s.key IN ({sql_list(list(shape.state_keys))}) {condition}"
        )
        by_approval: dict[str, dict[str, Any]] = {}
        for row in rows:
            try:
                value = json.loads(row.get("value_utf8") or "")
            except ValueError:
                value = None
            by_approval.setdefault(str(row.get("service_key")), {})[str(row.get("key"))] = value
        return by_approval

    def _waiting(self, approval_ids: list[str]) -> set[str]:
        if not approval_ids:
            return set()
        rows = query(
            "SELECT target_service_key FROM sys_invocation "
            f"WHERE target_service_name = {sql_literal(self.shape.service)} "
            f"AND target_handler_name = {sql_literal(self.shape.waiting_handler)} AND status <> 'completed' "
            f"AND target_service_key IN ({sql_list(approval_ids)})"
        )
        return {key for row in rows if isinstance(key := row.get("target_service_key"), str)}

    def _approvals(self, values: dict[str, dict[str, Any]]) -> list[Approval]:
        waiting = self._waiting(list(values))
        approvals = []
        for approval_id, state in values.items():
            requested, status = self.shape.read(approval_id, state)
            if status is None:
                self.skipped.add()
                continue
            request: ApprovalRequestValue | None = None
            if requested is not None:
                request = as_approval_request(requested)
                if request is None:
                    self.skipped.add()
            approvals.append(Approval(approval_id, status, request, approval_id in waiting))
        return approvals

    def find(self, approval_id: str) -> Approval | None:
        found = self._approvals(self._values(condition=f"AND s.service_key = {sql_literal(approval_id)}"))
        return found[0] if found else None

    def pending(self) -> list[PendingApproval]:
        """Approvals waiting for a person: status pending, request published, review still running."""
        shape = self.shape
        # Only the pending ones are read: finished reviews may be many (they are kept for days).
        where = (
            f"JOIN (SELECT service_key FROM state WHERE service_name = {sql_literal(shape.service)} "
            f"AND key = {sql_literal(shape.status_key)} AND value_utf8 LIKE '%pending%') p "
            "ON s.service_key = p.service_key"
        )
        approvals = self._approvals(self._values(join=where))
        pending = [
            PendingApproval(a.approval_id, a.request)
            for a in approvals
            if a.status == PENDING and a.request is not None and a.waiting
        ]
        return sorted(pending, key=lambda a: a.request.get("requested_at") or "")
