"""Handlers that wait suspend soon after they go idle (handlers/policies.py, pattern.py,
approvals.py, intake.py): for a person, for other invocations, for their model's budget. A
waiting invocation must not hold an invoker slot that what it waits for may need."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agentpipe.settings import get_settings
from handlers.policies import WAITING_INACTIVITY, parse_duration, waiting_inactivity_timeout


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1m", 60), ("0s", 0), ("0", 0), ("500ms", 0.5), ("1h 30m", 5400), ("2.5s", 2.5), ("5", 5)],
)
def test_restate_durations_are_read(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "x", "1m x", "-1s", "1d"])
def test_anything_else_is_not_a_duration(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("server_wide", "expected"),
    [
        ("1m", WAITING_INACTIVITY),
        ("0s", timedelta(0)),
        ("500ms", timedelta(milliseconds=500)),
        ("nonsense", WAITING_INACTIVITY),
    ],
)
def test_the_shorter_of_ours_and_the_servers_wins(monkeypatch, server_wide: str, expected: timedelta) -> None:
    # Always-replay runs the server at 0s: the waiting handlers must replay at every await too.
    monkeypatch.setenv("AGENTPIPE_RESTATE_INACTIVITY_TIMEOUT", server_wide)
    get_settings.cache_clear()
    assert waiting_inactivity_timeout() == expected


def test_only_the_handlers_that_wait_get_it() -> None:
    from agentpipe.claim_keys import admitted_handler, taker_handler
    from handlers.app import services
    from handlers.catalog import PATTERNS
    from handlers.remote_agents.specialists import SERVICES as SPECIALISTS

    short = {
        (service.name, handler.name)
        for service in [*services(), *SPECIALISTS]
        for handler in service.handlers.values()
        if handler.inactivity_timeout is not None
    }
    runs_requests = {(p.service, p.handler) for p in PATTERNS.values()}
    runs_requests |= {("RequestIds", taker_handler(p.name)) for p in PATTERNS.values() if not p.keyed}
    runs_requests |= {("RequestIds", admitted_handler(p.name)) for p in PATTERNS.values() if not p.keyed}
    assert short == {
        # Every handler that runs a request: it may wait for its model's budget (and HITL for a
        # person, remote agent routing for a specialist).
        *runs_requests,
        ("Chat", "ingest"),  # runs the message in its session
        ("BillingAgent", "run"),
        ("AccountAgent", "run"),
        ("ProductAgent", "run"),
        # For a person.
        ("ApprovalReview", "run"),
        # For the review to apply a decision.
        ("ApprovalIntake", "ingest"),
    }


def test_no_ingest_waits_for_another_invocation() -> None:
    """Records are handed on one-way (chat claims in its own state), so an ingest never waits on a claim."""
    import inspect

    from handlers import intake

    source = inspect.getsource(intake)
    for waiting_call in ("object_call", "service_call", "generic_call", "workflow_call"):
        assert waiting_call not in source, waiting_call
