"""A human-in-the-loop request waiting for approval survives a restart of every component,
and resumes when the approval event arrives."""

from __future__ import annotations

import pytest

from stack.local import down, up
from tests.reliability.faults import approve_and_wait, wait_for_approval_request

pytestmark = pytest.mark.slow


def test_waiting_approval_survives_down_and_up(stack):
    request_id, approval_id = wait_for_approval_request("A borderline meme; might be satire.")

    assert down()
    up(timeout=240)

    value = approve_and_wait(request_id, approval_id, "after-restart", timeout=90)
    assert value["status"] == "ok" and value["output"] == "approved by after-restart"
