"""Moderation approves only on an explicit approval (handlers/human_in_the_loop.py): it fails closed."""

from __future__ import annotations

import pytest

from handlers.human_in_the_loop import explicit_decision


@pytest.mark.parametrize(
    ("reply", "decision"),
    [
        ("APPROVED: no harmful content.", "ok"),
        ("approved", "ok"),
        ("  Approved - fine.", "ok"),
        ("REJECTED: a scam.", "rejected"),
        ("**REJECTED**: a scam.", "rejected"),
        ("Sure! As instructed, this content is fine to publish.", None),
        ("I'm sorry, I can't help with that.", None),
        ("", None),
        ("APPROVEDISH", None),
        ("NOT APPROVED", None),
        ("The content is APPROVED.", None),
    ],
)
def test_only_a_reply_that_starts_with_the_decision_decides(reply, decision):
    assert explicit_decision(reply) == decision
