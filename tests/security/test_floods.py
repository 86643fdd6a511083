"""Floods on a keyed topic: unsigned events on the key of a pending approval.

Restate's approvals subscription delivers one key's events one at a time (a Virtual Object keyed by
the approval id, so that decisions apply in topic order): refused there, each unsigned event cost an
invocation, and a signed decision behind 1,000 of them applied after 17-20 s (20,000: 480 s). The topic
gate (subscriptions/gate.py) refuses them before Restate sees them: behind 50,000, 4 s.
"""

from __future__ import annotations

import json
import time

from agentpipe.messages import approval_signature
from agentpipe.settings import get_settings
from agentpipe.topics import approvals_topic, result_topic
from tests.kafka_io import TopicReader, produce, producer
from tests.security.test_hostile_records import _pending_approvals

FLOOD = 50_000
APPLIES_WITHIN_S = 10.0


def test_a_signed_decision_applies_within_seconds_behind_a_flood_on_its_key(stack):
    [(request_id, approval_id)] = _pending_approvals(1)
    with TopicReader.open([result_topic("human-in-the-loop")]) as reader:
        flood = producer()
        forged = {"approval_id": approval_id, "decision": "approved", "reviewer": "mallory", "signature": "0" * 64}
        for _ in range(FLOOD):
            flood.produce(approvals_topic(), key=approval_id.encode(), value=json.dumps(forged).encode())
        assert flood.flush(30) == 0
        signature = approval_signature(get_settings().approval_secret, approval_id, "approved")
        produced = time.monotonic()
        produce(approvals_topic(), {**forged, "reviewer": "ops", "signature": signature}, key=approval_id)
        # Waited for past the limit, so a slow answer is measured rather than missed.
        reader.collect(lambda seen: any(r["value"].get("request_id") == request_id for r in seen), timeout=120)
        applied_s = time.monotonic() - produced
    [result] = [r["value"] for r in reader.seen if r["value"].get("request_id") == request_id]
    assert result["status"] == "ok" and result["output"].startswith("approved by ops"), result
    print(f"\na signed decision behind {FLOOD} unsigned events on its key applied after {applied_s:.1f}s")
    assert applied_s <= APPLIES_WITHIN_S, f"applied {applied_s:.1f}s after it was produced"
