"""Over Restate's HTTP ingress a request meets the rules a record meets: the one result under a request
id comes from the invocation that claimed it, and only the intake names a record's coordinates.

Each attack here once worked: a POST with the request id of a moderation waiting for a person
published "ok, APPROVED" under the victim's id while the real review was open.
"""

from __future__ import annotations

import httpx

from agentpipe.settings import get_settings
from agentpipe.topics import dead_letters_topic, request_topic, result_topic
from tests.kafka_io import TopicReader, new_id, produce, result_reader, send_request, wait_for_results
from tests.security.test_trust_boundaries import decide, hitl_reader, pending_review, result_of

HITL = "human-in-the-loop"


def post(path: str, body: dict, **headers: str) -> httpx.Response:
    return httpx.post(f"{get_settings().restate_ingress_url}/{path}", json=body, headers=headers, timeout=60)


def test_a_post_cannot_publish_a_result_under_an_id_a_record_holds(stack):
    with hitl_reader() as reader:
        request_id, approval_id = pending_review(reader)  # the victim's review is open
        forged = post("HumanInTheLoopService/moderate", {"request_id": request_id, "content": "A photo of a cat."})
        assert forged.status_code == 409, forged.text
        assert "already used by a different human-in-the-loop request" in forged.text
        # Nothing was published under the victim's id; the real decision still gives the one result.
        decide(approval_id, "approved")
        result = result_of(reader, request_id)
        assert result["output"] == "approved by rita" and result["status"] == "ok"
        reader.read_to_current_end()
    assert [r["value"]["request_id"] for r in reader.seen if r["topic"] == result_topic(HITL)].count(request_id) == 1


def test_the_same_request_twice_over_http_runs_once(stack):
    request_id = new_id("http-twice")
    body = {"request_id": request_id, "message": "Churn is at 4%."}
    with result_reader("chaining") as reader:
        first = post("CallChainingService/run", body)
        assert first.status_code == 200 and first.json()["status"] == "ok", first.text
        again = post("CallChainingService/run", body)
        assert again.status_code == 409 and "was taken already" in again.text, again.text
        other = post("CallChainingService/run", {**body, "message": "Churn is at 9%."})
        assert other.status_code == 409 and "already used by a different chaining request" in other.text
        wait_for_results("chaining", [request_id], reader)
        reader.read_to_current_end()
    assert [r["value"]["request_id"] for r in reader.seen].count(request_id) == 1


def test_a_record_reusing_an_id_taken_over_http_is_a_dead_letter(stack):
    request_id = new_id("http-first")
    assert post("CallChainingService/run", {"request_id": request_id, "message": "a"}).status_code == 200
    with TopicReader.open([dead_letters_topic()]) as reader:
        send_request("chaining", {"request_id": request_id, "message": "b"})
        reader.collect(lambda seen: any(request_id in (r["value"].get("error") or "") for r in seen), 60)
    letter = next(r["value"] for r in reader.seen if request_id in (r["value"].get("error") or ""))
    assert "already used by a different chaining request" in letter["error"]


def test_a_caller_cannot_claim_a_source_or_reset_a_session_over_http(stack):
    source = {"topic": "agent.requests.chaining", "partition": 0, "offset": 0}
    claimed = post("CallChainingService/run", {"message": "a", "source": source})
    assert claimed.status_code == 400 and "source is set by agentpipe" in claimed.text, claimed.text
    session = new_id("http-reset")
    produce(request_topic("chat"), {"message": "remember me"}, key=session)
    reset = post(f"Chat/{session}/message", {"reset": True})
    assert reset.status_code == 400 and "reset only by a record on its topic" in reset.text, reset.text
