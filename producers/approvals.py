"""Human decisions: which approval requests are pending, and signed approval events.

Pending = requested on the approval-requests topic and not yet decided. A
request is decided once a validly signed event for it is on the approvals
topic (unsigned or wrongly signed ones change nothing, so they do not count),
or once its moderation has a result (approved, rejected, timed out, cancelled).
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from dataclasses import dataclass, field

from agentpipe.messages import ApprovalEvent, approval_signature, signature_is_valid
from agentpipe.settings import get_settings
from producers.broker import Publisher, Record, TopicReader
from producers.client import ResultStream
from producers.errors import NotFound, NotOk
from subscriptions.topics import PATTERNS, approval_requests_topic, approvals_topic, result_topic

# The one pattern that asks people; topics.py names patterns but has no constant for this one.
HITL = PATTERNS["human-in-the-loop"].name


def approval_topics() -> list[str]:
    return [approval_requests_topic(), approvals_topic(), result_topic(HITL)]


def default_reviewer() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "reviewer"


def signed_event(approval_id: str, decision: str, reviewer: str = "", comment: str = "") -> dict:
    """An approval event as the contract in docs/contract.md defines it."""
    secret = get_settings().approval_secret
    signature = approval_signature(secret, approval_id, decision) if secret else None
    return ApprovalEvent(approval_id=approval_id, decision=decision, reviewer=reviewer, comment=comment,
                         signature=signature).model_dump()


def publish_decision(
    publisher: Publisher, approval_id: str, decision: str, reviewer: str = "", comment: str = ""
) -> dict:
    event = signed_event(approval_id, decision, reviewer, comment)
    publisher.publish(approvals_topic(), event, key=approval_id)
    publisher.flush()
    return event


@dataclass
class ApprovalBook:
    """What the three topics say about approvals, folded record by record."""

    requests: dict[str, dict] = field(default_factory=dict)  # approval id -> approval request
    decisions: dict[str, dict] = field(default_factory=dict)  # approval id -> first valid event
    finished: dict[str, dict] = field(default_factory=dict)  # request id -> moderation result

    def fold(self, record: Record, results: ResultStream) -> dict | None:
        """Apply one record; returns the approval request when the record is a new pending one."""
        value = record.json()
        if record.topic == approval_requests_topic() and isinstance(value, dict) and "approval_id" in value:
            self.requests.setdefault(value["approval_id"], value)
            return value if self.is_pending(value["approval_id"]) else None
        if record.topic == approvals_topic() and isinstance(value, dict):
            self._fold_decision(value)
        elif record.topic == result_topic(HITL):
            result = results.accept(record)
            if result is not None:
                self.finished[result["request_id"]] = result
        return None

    def _fold_decision(self, value: dict) -> None:
        try:
            event = ApprovalEvent.model_validate(value)
        except ValueError:
            return
        secret = get_settings().approval_secret
        if secret is None or signature_is_valid(secret, event):
            self.decisions.setdefault(event.approval_id, value)

    def is_pending(self, approval_id: str) -> bool:
        request = self.requests.get(approval_id)
        return (request is not None and approval_id not in self.decisions
                and request.get("request_id") not in self.finished)

    def pending(self) -> list[dict]:
        return [r for aid, r in self.requests.items() if self.is_pending(aid)]

    def check_decidable(self, approval_id: str) -> dict:
        """The approval request, or a one-line reason why deciding it would change nothing."""
        request = self.requests.get(approval_id)
        if request is None:
            raise NotFound(f"no approval request with id {approval_id!r} on {approval_requests_topic()}")
        if approval_id in self.decisions:
            decided = self.decisions[approval_id]
            who = decided.get("reviewer") or "someone"
            raise NotOk(f"approval {approval_id} is already {decided['decision']} by {who}")
        if request["request_id"] in self.finished:
            result = self.finished[request["request_id"]]
            raise NotOk(f"request {request['request_id']} already ended with status {result['status']}"
                        + (f" ({result['error']})" if result.get("error") else ""))
        return request


class ApprovalWatch:
    """Reads the approval topics from the beginning; ``book`` is current after ``catch_up``."""

    def __init__(self) -> None:
        self.reader = TopicReader.open(approval_topics(), from_beginning=True)
        # Approval records carry a request_id too: keep them out of the result de-duplication.
        self.results = ResultStream(self.reader, extra_topics=[approval_requests_topic(), approvals_topic()])
        self.book = ApprovalBook()

    def catch_up(self) -> ApprovalBook:
        for record in self.reader.read_available():
            self.book.fold(record, self.results)
        return self.book

    def follow_pending(self) -> Iterator[dict]:
        """New pending approval requests as they arrive."""
        for record in self.reader.follow():
            request = self.book.fold(record, self.results)
            if request is not None:
                yield request

    def wait_for_result(self, request_id: str, timeout: float) -> dict | None:
        if request_id in self.book.finished:
            return self.book.finished[request_id]
        found = self.results.wait_for([request_id], timeout, on_other=lambda r: self.book.fold(r, self.results))
        return found.get(request_id)

    def close(self) -> None:
        self.reader.close()

    def __enter__(self) -> "ApprovalWatch":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
