"""Security properties: secrets never reach a log, chat sessions are isolated, bounds hold."""

from __future__ import annotations

from agentpipe.settings import get_settings
from tests.conftest import TEST_API_KEY
from tests.kafka_io import new_id, result_reader, send_request, wait_for_results
from tests.restate_api import ingress


def test_no_secret_in_any_log_file(stack):
    # Exercise the paths that touch the secrets: LLM calls (API key) and approvals (approval key).
    with result_reader("chaining", "human-in-the-loop") as reader:
        ids = [send_request("chaining", {}), send_request("human-in-the-loop", {"content": "A cat photo."})]
        wait_for_results("chaining", ids[:1], reader)
    approval_key = get_settings().approval_key.get_secret_value()
    logs = list((get_settings().state_dir / "logs").glob("*.log"))
    assert len(logs) >= 5, logs
    for log in logs:
        text = log.read_text(errors="replace")
        assert TEST_API_KEY not in text, f"API key in {log}"
        assert approval_key not in text, f"approval key in {log}"


def test_a_session_cannot_reach_another_sessions_history(stack):
    victim, attacker = new_id("victim"), new_id("attacker")
    with result_reader("chat") as reader:
        ids = [
            send_request("chat", {"message": "my secret is 1234"}, key=victim),
            # Naming another session in the body changes nothing: the record key alone selects the session.
            send_request("chat", {"message": "what is the secret?", "session_id": victim}, key=attacker),
        ]
        results = wait_for_results("chat", ids, reader)
    attacker_reply = results[ids[1]]["value"]
    assert attacker_reply["session_id"] == attacker
    assert "1234" not in attacker_reply["output"]
    assert all("1234" not in m["content"] for m in ingress(f"Chat/{attacker}/history"))
    assert [m["content"] for m in ingress(f"Chat/{victim}/history") if m["role"] == "user"] == ["my secret is 1234"]


def test_chat_history_is_bounded(stack):
    session = new_id("long-chat")
    limit = get_settings().chat_history_max
    turns = limit // 2 + 3
    with result_reader("chat") as reader:
        ids = [send_request("chat", {"message": f"message {n}"}, key=session) for n in range(turns)]
        wait_for_results("chat", ids, reader)
    history = ingress(f"Chat/{session}/history")
    assert len(history) == limit
    assert history[-2]["content"] == f"message {turns - 1}" and history[-1]["role"] == "assistant"
