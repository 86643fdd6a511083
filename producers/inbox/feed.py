"""What the inbox shows: pending approvals and the decisions made, kept current from records.

Pending membership starts from Restate's state (what `agentpipe approvals` reads) and then
follows three topics: an approval request adds one, a validly signed decision or the
moderation's result removes it. An approval that ended is remembered, so a request record
read after its decision (the topics are read side by side, not in one order) never brings it
back. The feed is touched only from the event loop; listeners get every change.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError

from agentpipe.messages import ApprovalEvent, signature_problem
from producers.shapes import ApprovalRequestValue, as_approval_request

PAGE_SIZE = 50
# How long an approval added from a record may be missing from Restate's pending list
# (its state is written just after the record is published) before a reconcile drops it.
RECONCILE_GRACE_S = 15.0


@dataclass(frozen=True)
class PendingItem:
    approval_id: str
    request_id: str
    pattern: str
    content: str
    reason: str
    requested_at: str

    @classmethod
    def of(cls, request: ApprovalRequestValue, pattern: str) -> PendingItem:
        return cls(
            approval_id=request["approval_id"],
            request_id=request["request_id"],
            pattern=pattern,
            content=request["content"],
            reason=request["reason"],
            requested_at=request.get("requested_at") or "",
        )

    def view(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class HistoryEntry:
    """A signed decision as read from the approvals topic, or a review that timed out."""

    approval_id: str
    request_id: str
    decision: str  # approved, rejected, or the result's status when nobody decided (timed_out)
    reviewer: str
    comment: str
    at: str  # RFC 3339: the record's timestamp
    position: tuple[int, int] | None = None  # (partition, offset) on the approvals topic
    counted: bool | None = None  # None until known: did this decision decide the review?

    def view(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "position"}


@dataclass(frozen=True)
class Change:
    kind: Literal["added", "removed"]
    approval_id: str
    item: PendingItem | None = None
    why: str = ""


class BoundedSet:
    """Remembers the newest ``limit`` keys."""

    def __init__(self, limit: int):
        self.limit = limit
        self._keys: OrderedDict[str, None] = OrderedDict()

    def add(self, key: str) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self.limit:
            self._keys.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        return key in self._keys


class BoundedMap(OrderedDict[str, Any]):
    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


def timestamp_text(ms: int | None) -> str:
    if not ms or ms <= 0:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _decision_status(decision: str) -> str:
    return "ok" if decision == "approved" else decision


@dataclass
class ApprovalFeed:
    secret: bytes
    pattern: str
    history_limit: int = 500
    memory_limit: int = 100_000
    pending: dict[str, PendingItem] = field(default_factory=dict)
    added_at: dict[str, float] = field(default_factory=dict)
    listeners: list[Callable[[Change], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ended = BoundedSet(self.memory_limit)
        self.approval_of_request: BoundedMap = BoundedMap(self.memory_limit)
        self.request_of_approval: BoundedMap = BoundedMap(self.memory_limit)
        self.first_decision: BoundedMap = BoundedMap(self.memory_limit)  # approval id -> HistoryEntry
        self.result_status: BoundedMap = BoundedMap(self.memory_limit)  # approval id -> the result's status
        self.history: deque[HistoryEntry] = deque(maxlen=self.history_limit)

    # --- reading ---------------------------------------------------------------------------

    def ordered(self) -> list[PendingItem]:
        """Oldest first, as reviewers work through them."""
        return sorted(self.pending.values(), key=lambda item: (item.requested_at, item.approval_id))

    def page(self, number: int, size: int = PAGE_SIZE) -> tuple[list[PendingItem], int, int]:
        """(items of page ``number`` (1-based), total pending, number of pages)."""
        items = self.ordered()
        pages = max(1, -(-len(items) // size))
        number = min(max(1, number), pages)
        return items[(number - 1) * size : number * size], len(items), pages

    def recent_history(self) -> list[HistoryEntry]:
        return list(reversed(self.history))

    # --- records ---------------------------------------------------------------------------

    def on_approval_request(self, value: Any, now: float, *, live: bool = True) -> None:
        """An approval request record. Read before the feed is live, it only teaches ids."""
        request = as_approval_request(value)
        if request is None:
            return
        approval_id, request_id = request["approval_id"], request["request_id"]
        self.approval_of_request[request_id] = approval_id
        self.request_of_approval[approval_id] = request_id
        if live and approval_id not in self.ended and approval_id not in self.pending:
            self._add(PendingItem.of(request, self.pattern), now)

    def on_decision(self, value: Any, position: tuple[int, int], timestamp_ms: int | None) -> None:
        """A record on the approvals topic; only a validly signed one is a decision."""
        try:
            event = ApprovalEvent.model_validate(value)
        except ValidationError:
            return
        if signature_problem(self.secret, event):
            return
        approval_id = event.approval_id
        entry = HistoryEntry(
            approval_id=approval_id,
            request_id=self.request_of_approval.get(approval_id, ""),
            decision=event.decision,
            reviewer=event.reviewer,
            comment=event.comment,
            at=timestamp_text(timestamp_ms),
            position=position,
        )
        # The approvals topic is keyed by approval id: the first valid event in its partition is
        # the one the review sees first, so it decides unless the review had already ended.
        if approval_id in self.first_decision:
            entry.counted = False
        else:
            self.first_decision[approval_id] = entry
            status = self.result_status.get(approval_id)
            if status is not None:  # the result was read first (another topic): it settles this at once
                entry.counted = _decision_status(event.decision) == status
        self.history.append(entry)
        self._end(approval_id, f"{event.decision} by {event.reviewer or 'a reviewer'}")

    def on_result(self, value: Any, timestamp_ms: int | None) -> None:
        """The moderation's result: the review is over, and says how."""
        if not isinstance(value, dict) or not isinstance(value.get("request_id"), str):
            return
        approval_id = self.approval_of_request.get(value["request_id"])
        if approval_id is None:
            return  # decided without a person, or asked before the window the feed read
        status = str(value.get("status", ""))
        self.result_status[approval_id] = status
        first = self.first_decision.get(approval_id)
        if first is not None:
            first.counted = _decision_status(first.decision) == status
        if (first is None or not first.counted) and status not in ("ok", "rejected"):  # nobody decided it
            self.history.append(
                HistoryEntry(approval_id, value["request_id"], status, "", "", timestamp_text(timestamp_ms))
            )
        self._end(approval_id, status.replace("_", " ") or "ended")

    def reconcile(self, pending_now: Iterable[PendingItem], now: float) -> None:
        """Align with Restate's pending list: it is the truth when a record was missed."""
        current = {item.approval_id: item for item in pending_now}
        for approval_id in list(self.pending):
            if approval_id not in current and now - self.added_at.get(approval_id, now) > RECONCILE_GRACE_S:
                self._end(approval_id, "no longer pending")
        for approval_id, item in current.items():
            self.request_of_approval[approval_id] = item.request_id
            self.approval_of_request[item.request_id] = approval_id
            if approval_id not in self.pending and approval_id not in self.ended:
                self._add(item, now)

    # --- outcome of one decision -----------------------------------------------------------

    def outcome(self, approval_id: str, position: tuple[int, int]) -> tuple[str, HistoryEntry | None]:
        """How a decision published at ``position`` went: waiting, won, lost or late (review over)."""
        first: HistoryEntry | None = self.first_decision.get(approval_id)
        if first is None:
            return "waiting", None
        if first.position != position:
            return "lost", first
        if first.counted is None:
            return "waiting", first
        return ("won" if first.counted else "late"), first

    # --- changes ---------------------------------------------------------------------------

    def _add(self, item: PendingItem, now: float) -> None:
        self.pending[item.approval_id] = item
        self.added_at[item.approval_id] = now
        self._tell(Change("added", item.approval_id, item=item))

    def _end(self, approval_id: str, why: str) -> None:
        self.ended.add(approval_id)
        self.added_at.pop(approval_id, None)
        if self.pending.pop(approval_id, None) is not None:
            self._tell(Change("removed", approval_id, why=why))

    def _tell(self, change: Change) -> None:
        for listener in list(self.listeners):
            listener(change)
