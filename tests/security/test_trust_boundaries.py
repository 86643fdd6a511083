"""Who may decide, and who may call what: the attacks that once worked, each tried again.

- an unsigned decision over HTTP ingress, straight to the approval handler;
- any private handler (the patterns' ingest, the request-id claims, the review) over ingress;
- a call to a deployment that does not come from restate-server (a made-up journal);
- listening on anything but loopback;
- the services starting without an approval key or with an invalid setting.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agentpipe.messages import approval_signature
from agentpipe.settings import get_settings
from agentpipe.topics import approval_requests_topic, approvals_topic, result_topic
from stack.secrets import public_identity_key
from subscriptions.restate_admin import DeploymentInUse, register_deployment, revision_uri
from tests.kafka_io import TopicReader, produce, send_request
from tests.restate_api import behind_the_front, state_of

ROOT = Path(__file__).resolve().parents[2]
BORDERLINE = "A borderline joke about skipping taxes; might be satire."


def pending_review(reader: TopicReader) -> tuple[str, str]:
    request_id = send_request("human-in-the-loop", {"content": BORDERLINE})
    reader.collect(
        lambda seen: any(
            r["topic"] == approval_requests_topic() and r["value"]["request_id"] == request_id for r in seen
        )
    )
    approval = next(
        r["value"]
        for r in reader.seen
        if r["topic"] == approval_requests_topic() and r["value"]["request_id"] == request_id
    )
    return request_id, approval["approval_id"]


def result_of(reader: TopicReader, request_id: str, timeout: float = 60) -> dict:
    topic = result_topic("human-in-the-loop")
    reader.collect(
        lambda seen: any(r["topic"] == topic and r["value"]["request_id"] == request_id for r in seen), timeout
    )
    return next(r["value"] for r in reader.seen if r["topic"] == topic and r["value"]["request_id"] == request_id)


def decide(approval_id: str, decision: str, reviewer: str = "rita") -> None:
    """A decision signed with the stack's key, as a reviewer's tool publishes it."""
    signature = approval_signature(get_settings().approval_secret, approval_id, decision)
    produce(
        approvals_topic(),
        {"approval_id": approval_id, "decision": decision, "reviewer": reviewer, "signature": signature},
        key=approval_id,
    )


def hitl_reader() -> TopicReader:
    return TopicReader.open([approval_requests_topic(), result_topic("human-in-the-loop")])


def test_no_http_caller_can_decide_or_reach_a_private_handler(stack):
    ingress = get_settings().restate_ingress_url
    with hitl_reader() as reader:
        request_id, approval_id = pending_review(reader)
        forged = {"approval_id": approval_id, "decision": "approved", "reviewer": "attacker"}
        for path in (
            f"ApprovalReview/{approval_id}/decide",
            f"ApprovalReview/{approval_id}/run",
            f"ApprovalIntake/{approval_id}/ingest",
            "CallChainingService/ingest",
            "HumanInTheLoopService/ingest",
            f"Chat/{approval_id}/ingest",
            f"RequestIds/chaining:{request_id}/chaining",
            f"RequestIds/human-in-the-loop:{request_id}/human_in_the_loop",
            f"RequestIds/chaining:{request_id}/forget",
            f"Chat/{approval_id}/forget_request_id",
        ):
            headers = {"kafka.topic": approvals_topic(), "kafka.partition": "0", "kafka.offset": "0"}
            response = httpx.post(f"{ingress}/{path}", json=forged, timeout=10, headers=headers)
            assert response.status_code == 404 and "not served" in response.text, (path, response.text)
            # Behind the front, restate-server refuses it as well.
            with behind_the_front() as restate:
                direct = restate.post(f"/{path}", json=forged, headers=headers)
            assert direct.status_code == 400 and "not public" in direct.text, (path, direct.text)
        # The review holds no awakeable: nothing in its state can be completed over /restate/awakeables.
        assert set(state_of("ApprovalReview", approval_id)) == {"status", "request_id", "requested"}
        assert state_of("ApprovalReview", approval_id)["status"] == "pending"
        # Had any forged call applied, the one result would name the attacker, not the real reviewer.
        decide(approval_id, "approved")
        assert result_of(reader, request_id)["output"] == "approved by rita"


def test_http_ingress_requests_meet_the_record_size_limit(stack):
    limit = get_settings().max_record_bytes
    ingress = get_settings().restate_ingress_url
    over = httpx.post(f"{ingress}/CallChainingService/run", json={"message": "a" * (limit + 1)}, timeout=60)
    assert over.status_code == 200 and over.json()["status"] == "error", over.text[:300]
    assert "over the limit" in over.json()["error"]
    # Far over: refused by Restate's ingress before it reaches a handler.
    huge = httpx.post(
        f"{ingress}/CallChainingService/run",
        content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert huge.status_code == 413, huge.status_code


def _jwt(key: Ed25519PrivateKey, audience: str) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    now = int(time.time())
    header = b64(json.dumps({"typ": "JWT", "alg": "EdDSA", "kid": public_identity_key(pem)}).encode())
    claims = b64(json.dumps({"aud": audience, "nbf": now - 5, "iat": now, "exp": now + 60}).encode())
    return f"{header}.{claims}.{b64(key.sign(f'{header}.{claims}'.encode()))}"


@pytest.mark.parametrize("base_url", ["agent_service_url", "remote_agents_url"])
def test_deployments_refuse_calls_that_restate_server_did_not_sign(stack, base_url):
    base = revision_uri(getattr(get_settings(), base_url))
    for path in ("discover", "invoke/HumanInTheLoopService/moderate", "invoke/BillingAgent/run"):
        url = base + path
        audience = "/" + url.split("/", 3)[3]
        for identity in (None, _jwt(Ed25519PrivateKey.generate(), audience)):
            headers = {"content-type": "application/vnd.restate.invocation.v5"}
            if identity:
                headers |= {"x-restate-signature-scheme": "v1", "x-restate-jwt-v1": identity}
            # A made-up journal: Restate's protocol framing with any content.
            response = httpx.post(url, headers=headers, content=b"\x00" * 64, timeout=10)
            assert response.status_code == 401, (url, bool(identity), response.status_code)
    assert httpx.get(base + "health", timeout=10).status_code == 200


def test_every_port_of_the_stack_listens_on_loopback_only(stack):
    status = json.loads((get_settings().state_dir / "status.json").read_text())
    pids = {info["pid"] for info in status["components"].values() if info.get("pid")}
    listening = [c for c in psutil.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN and c.pid in pids]
    assert len({c.laddr.port for c in listening}) >= 8, listening
    exposed = [c for c in listening if c.laddr.ip not in ("127.0.0.1", "::ffff:127.0.0.1")]
    assert not exposed, exposed


def test_stack_secrets_are_readable_by_their_owner_only(stack):
    for name in ("approval.key", "request-identity.pem"):
        mode = stat.S_IMODE((get_settings().state_dir / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))


def _start_agent_service(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTPIPE_", "OPENAI_"))}
    clean |= {"AGENTPIPE_STATE_DIR": str(tmp_path), "AGENTPIPE_AGENT_SERVICE_PORT": "1", **env}
    return subprocess.run(
        [sys.executable, "-m", "handlers"], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"AGENTPIPE_REQUEST_IDENTITY_KEYS": '["publickeyv1_x"]'}, "AGENTPIPE_APPROVAL_KEY"),
        (
            {"AGENTPIPE_REQUEST_IDENTITY_KEYS": '["publickeyv1_x"]', "AGENTPIPE_APPROVAL_KEY": "  "},
            "AGENTPIPE_APPROVAL_KEY",
        ),
        (
            {"AGENTPIPE_REQUEST_IDENTITY_KEYS": '["publickeyv1_x"]', "AGENTPIPE_APPROVAL_KEY": "a-guessable-password"},
            "at least 32 random bytes",
        ),
        (
            {"AGENTPIPE_APPROVAL_KEY": "505f687cb67caeaefbffe7d55c62962777824fcd698cf20a0288b4958b789063"},
            "AGENTPIPE_REQUEST_IDENTITY_KEYS",
        ),
        (
            {
                "AGENTPIPE_APPROVAL_KEY": "505f687cb67caeaefbffe7d55c62962777824fcd698cf20a0288b4958b789063",
                "AGENTPIPE_CHAT_HISTORY_MAX": "0",
            },
            "AGENTPIPE_CHAT_HISTORY_MAX",
        ),
        (
            {
                "AGENTPIPE_APPROVAL_KEY": "505f687cb67caeaefbffe7d55c62962777824fcd698cf20a0288b4958b789063",
                "AGENTPIPE_TOOL_LOOP_MAX_ROUNDS": "-3",
            },
            "AGENTPIPE_TOOL_LOOP_MAX_ROUNDS",
        ),
        (
            {
                "AGENTPIPE_APPROVAL_KEY": "505f687cb67caeaefbffe7d55c62962777824fcd698cf20a0288b4958b789063",
                "AGENTPIPE_MAX_RECORD_BYTES": "lots",
            },
            "AGENTPIPE_MAX_RECORD_BYTES",
        ),
    ],
)
def test_the_agent_service_refuses_to_start_without_a_key_or_with_a_bad_setting(tmp_path, env, named):
    done = _start_agent_service(env, tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "refusing to start" in lines[0] and named in lines[0], done.stderr


def test_changed_code_is_not_registered_under_running_invocations(stack):
    base = get_settings().agent_service_url
    with hitl_reader() as reader:
        request_id, approval_id = pending_review(reader)  # an invocation pinned to the running revision
        with pytest.raises(DeploymentInUse, match="still run on an older revision"):
            register_deployment(base, revision="rev-000000000000")
        deployments = httpx.get(f"{get_settings().restate_admin_url}/deployments", timeout=10).json()["deployments"]
        uris = {d["uri"] for d in deployments}
        assert revision_uri(base) in uris and revision_uri(base, "rev-000000000000") not in uris
        decide(approval_id, "rejected")
        assert result_of(reader, request_id)["status"] == "rejected"


def test_decisions_on_one_approval_are_applied_in_topic_order(stack):
    with hitl_reader() as reader:
        reviews = [pending_review(reader) for _ in range(6)]
        expected = {}
        for n, (request_id, approval_id) in enumerate(reviews):
            order = ("approved", "rejected") if n % 2 == 0 else ("rejected", "approved")
            for decision in order:  # back to back, same key: the first in the topic must win
                decide(approval_id, decision, reviewer=f"r{n}")
            expected[request_id] = "ok" if order[0] == "approved" else "rejected"
        results = {request_id: result_of(reader, request_id)["status"] for request_id, _ in reviews}
    assert results == expected


def test_a_review_is_kept_for_the_retention_setting_only(stack):
    service = httpx.get(f"{get_settings().restate_admin_url}/services/ApprovalReview", timeout=10).json()
    assert service["public"] is False
    days = get_settings().approval_retention_s / 86400
    assert service["workflow_completion_retention"] == f"{days:g}d"
    assert service["retry_policy"]["max_attempts"] == get_settings().invocation_max_attempts
