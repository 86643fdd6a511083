"""What the HTTP ingress shows to anyone who can reach it: the allow-listed entry points, and no decision.

Restate serves a workflow's output to anyone who names its key, private or not, and approval ids
travel on a topic; the review's output therefore carries nothing about the decision.
"""

from __future__ import annotations

import httpx

from agentpipe.messages import approval_signature
from agentpipe.settings import get_settings
from agentpipe.topics import approvals_topic
from tests.kafka_io import produce
from tests.restate_api import behind_the_front
from tests.security.test_trust_boundaries import hitl_reader, pending_review, result_of
from tests.unit.test_public_surface import PUBLIC


def test_restate_serves_only_the_allow_list_publicly(stack):
    services = httpx.get(f"{get_settings().restate_admin_url}/services", timeout=10).json()["services"]
    public = {
        (service["name"], handler["name"])
        for service in services
        for handler in service["handlers"]
        if service.get("public", True) and handler.get("public", True)
    }
    assert public == PUBLIC
    names = {service["name"] for service in services}
    assert {"BillingAgent", "AccountAgent", "ProductAgent", "ApprovalReview", "RequestIds"} <= names


def test_an_internal_specialist_refuses_outsiders(stack):
    body = {"request_id": "x", "question": "refund?", "model": "gpt-4-anything", "temperature": 1.9}
    response = httpx.post(f"{get_settings().restate_ingress_url}/BillingAgent/run", json=body, timeout=10)
    assert response.status_code == 404 and "not served" in response.text, response.text
    with behind_the_front() as restate:  # restate-server itself refuses it too
        direct = restate.post("/BillingAgent/run", json=body)
    assert direct.status_code == 400 and "not public" in direct.text, direct.text


def test_a_reviews_output_names_no_reviewer_comment_or_content(stack):
    ingress = get_settings().restate_ingress_url
    with hitl_reader() as reader:
        request_id, approval_id = pending_review(reader)
        decision = {"approval_id": approval_id, "decision": "approved", "reviewer": "rita-r", "comment": "cf-77 ok"}
        decision["signature"] = approval_signature(get_settings().approval_secret, approval_id, "approved")
        produce(approvals_topic(), decision, key=approval_id)
        assert result_of(reader, request_id)["output"] == "approved by rita-r: cf-77 ok"
    for route in ("output", "attach"):
        path = f"/restate/workflow/ApprovalReview/{approval_id}/{route}"
        assert httpx.get(ingress + path, timeout=10).status_code == 404  # the front does not serve it
        with behind_the_front() as restate:  # restate-server does, to anyone who names the key
            shown = restate.get(path).text
        assert shown and "rita-r" not in shown and "cf-77" not in shown and "approved" not in shown, (route, shown)
        assert "borderline" not in shown.lower(), (route, shown)
