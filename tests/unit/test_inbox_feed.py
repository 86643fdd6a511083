"""The inbox's feed: what is pending and what was decided, from records in any order."""

from __future__ import annotations

from agentpipe.messages import approval_signature
from producers.inbox.feed import PAGE_SIZE, RECONCILE_GRACE_S, ApprovalFeed, Change, PendingItem

KEY = b"unit-test-key"
HITL = "human-in-the-loop"


def request(n: int, at: str | None = None) -> dict:
    return {
        "schema_version": 1,
        "approval_id": f"approval-{n}",
        "request_id": f"req-{n}",
        "content": f"content {n} <b>bold</b>",
        "reason": "Not sure",
        "requested_at": at or f"2026-11-28T10:00:{n:02d}.000Z",
    }


def decision(n: int, verdict: str = "approved", reviewer: str = "ada", key: bytes = KEY) -> dict:
    return {
        "approval_id": f"approval-{n}",
        "decision": verdict,
        "reviewer": reviewer,
        "comment": "ok",
        "signature": approval_signature(key, f"approval-{n}", verdict),
    }


def feed_with_changes() -> tuple[ApprovalFeed, list[Change]]:
    feed = ApprovalFeed(secret=KEY, pattern=HITL)
    changes: list[Change] = []
    feed.listeners.append(changes.append)
    return feed, changes


def test_a_request_adds_and_a_signed_decision_removes():
    feed, changes = feed_with_changes()
    feed.on_approval_request(request(1), now=0)
    assert [i.approval_id for i in feed.ordered()] == ["approval-1"]
    feed.on_decision(decision(1), (0, 5), 1_795_000_000_000)
    assert feed.pending == {}
    assert [(c.kind, c.approval_id) for c in changes] == [("added", "approval-1"), ("removed", "approval-1")]
    assert changes[1].why == "approved by ada"
    [entry] = feed.recent_history()
    assert (entry.reviewer, entry.decision, entry.request_id, entry.counted) == ("ada", "approved", "req-1", None)
    feed.on_result({"request_id": "req-1", "status": "ok"}, None)
    assert entry.counted is True
    assert feed.outcome("approval-1", (0, 5)) == ("won", entry)


def test_unsigned_wrongly_signed_and_malformed_decisions_change_nothing():
    feed, changes = feed_with_changes()
    feed.on_approval_request(request(1), now=0)
    for bad in (
        {**decision(1), "signature": None},
        decision(1, key=b"another key"),
        {"approval_id": "approval-1", "decision": "maybe"},
        "not even an object",
        None,
    ):
        feed.on_decision(bad, (0, 1), None)
    assert list(feed.pending) == ["approval-1"]
    assert feed.recent_history() == []
    assert len(changes) == 1


def test_an_ended_approval_never_comes_back_whatever_order_the_topics_are_read_in():
    feed, _ = feed_with_changes()
    feed.on_decision(decision(2), (0, 1), None)  # the decision is read before its request
    feed.on_approval_request(request(2), now=0)
    assert feed.pending == {}
    feed.on_approval_request(request(3), now=0)
    feed.on_result({"request_id": "req-3", "status": "timed_out"}, None)
    feed.on_approval_request(request(3), now=1)
    assert feed.pending == {}
    assert [e.decision for e in feed.recent_history()] == ["timed_out", "approved"]


def test_the_first_valid_decision_counts_and_later_ones_lose():
    feed, _ = feed_with_changes()
    feed.on_approval_request(request(1), now=0)
    feed.on_decision(decision(1, "approved", "ada"), (0, 7), None)
    feed.on_decision(decision(1, "rejected", "bob"), (0, 8), None)
    state, first = feed.outcome("approval-1", (0, 8))
    assert state == "lost" and first is not None and first.reviewer == "ada"
    assert [e.counted for e in feed.recent_history()] == [False, None]


def test_a_decision_after_the_review_timed_out_is_late():
    feed, _ = feed_with_changes()
    feed.on_approval_request(request(1), now=0)
    feed.on_result({"request_id": "req-1", "status": "timed_out"}, None)
    feed.on_decision(decision(1), (1, 3), None)
    assert feed.outcome("approval-1", (1, 3))[0] == "late"
    assert feed.outcome("approval-9", (1, 3)) == ("waiting", None)


def test_requests_read_before_the_feed_is_live_only_teach_ids():
    feed, changes = feed_with_changes()
    feed.on_approval_request(request(1), now=0, live=False)
    assert feed.pending == {} and changes == []
    feed.on_result({"request_id": "req-1", "status": "rejected"}, None)  # known through the window
    assert feed.result_status["approval-1"] == "rejected"


def test_reconcile_adds_what_restate_holds_and_drops_what_it_no_longer_does_after_a_grace():
    feed, _ = feed_with_changes()
    feed.on_approval_request(request(1), now=100)
    held = [PendingItem.of(request(2), HITL)]  # type: ignore[arg-type]
    feed.reconcile(held, now=101)
    assert set(feed.pending) == {"approval-1", "approval-2"}  # 1 is young: Restate may not show it yet
    feed.reconcile(held, now=100 + RECONCILE_GRACE_S + 1)
    assert set(feed.pending) == {"approval-2"}
    feed.reconcile(held, now=200)
    assert set(feed.pending) == {"approval-2"}


def test_pages_are_oldest_first_and_fifty_long():
    feed, _ = feed_with_changes()
    for n in reversed(range(120)):
        feed.on_approval_request(request(n, at=f"2026-11-28T10:{n // 60:02d}:{n % 60:02d}.000Z"), now=0)
    first, total, pages = feed.page(1)
    assert (len(first), total, pages) == (PAGE_SIZE, 120, 3)
    assert first[0].approval_id == "approval-0" and first[-1].approval_id == "approval-49"
    last, _, _ = feed.page(3)
    assert [i.approval_id for i in last] == [f"approval-{n}" for n in range(100, 120)]
    assert feed.page(99)[0] == last and feed.page(0)[0] == first


def test_records_of_the_wrong_shape_are_ignored():
    feed, _ = feed_with_changes()
    for junk in (None, [], {"approval_id": 3}, {"request_id": "x"}, "text"):
        feed.on_approval_request(junk, now=0)
        feed.on_result(junk, None)
    assert feed.pending == {} and feed.recent_history() == []
