"""A human-in-the-loop request waiting for approval survives a restart of every component,
and resumes when the approval event arrives."""

from __future__ import annotations

import pytest

from agentpipe.messages import approval_signature
from agentpipe.settings import get_settings
from agentpipe.topics import approval_requests_topic, approvals_topic, result_topic
from stack.local import down, up
from tests.kafka_io import TopicReader, produce, send_request

pytestmark = pytest.mark.slow


def test_waiting_approval_survives_down_and_up(stack):
    with TopicReader.open([approval_requests_topic()]) as reader:
        request_id = send_request("human-in-the-loop", {"content": "A borderline meme; might be satire."})
        reader.collect(lambda seen: any(r["value"]["request_id"] == request_id for r in seen))
        approval_id = next(r["value"]["approval_id"] for r in reader.seen if r["value"]["request_id"] == request_id)

    assert down()
    up(timeout=240)

    with TopicReader.open([result_topic("human-in-the-loop")], from_beginning=True) as results:
        signature = approval_signature(get_settings().approval_secret, approval_id, "approved")
        produce(
            approvals_topic(),
            {"approval_id": approval_id, "decision": "approved", "reviewer": "after-restart", "signature": signature},
            key=approval_id,
        )
        results.collect(lambda seen: any(r["value"]["request_id"] == request_id for r in seen), timeout=90)
    value = next(r["value"] for r in results.seen if r["value"]["request_id"] == request_id)
    assert value["status"] == "ok" and value["output"] == "approved by after-restart"
