"""The demo: one request per pattern through Kafka, the approval request answered, the ten results collected.

Every request is ``{}`` (each pattern runs its built-in example); the chat
request gets a fresh session key. The moderation asks for a human decision;
``answer`` decides it (automatically, or by asking the person) and the decision
goes out as a signed approval event, as a reviewer's would.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from agentpipe.messages import AgentResult
from agentpipe.patterns import PATTERNS
from agentpipe.settings import get_settings
from agentpipe.topics import approval_requests_topic
from producers.approvals import HITL, publish_decision
from producers.broker import Record, cluster_metadata
from producers.client import AgentpipeClient, first_line
from producers.errors import Unreachable
from producers.shapes import ApprovalRequestValue, as_approval_request

DEMO_REVIEWER = "agentpipe-demo"


@dataclass
class DemoRow:
    pattern: str
    request_id: str
    status: str  # a result status, or "missing"
    route: str | None = None
    output: str = ""
    latency_s: float | None = None


def stack_reachable() -> bool:
    try:
        cluster_metadata(timeout=2)
        return httpx.get(f"{get_settings().restate_admin_url}/health", timeout=2).status_code == 200
    except (Unreachable, httpx.HTTPError):
        return False


# answer(approval_request) -> (decision, comment)
Answer = Callable[[ApprovalRequestValue], tuple[str, str]]
# on_event(kind, detail): kind and detail are "sent" (pattern, request_id),
# "approval" (approval_id, request_id, decision) or "result" (pattern, status)
OnEvent = Callable[[str, dict[str, str]], None]


def approve_automatically(request: ApprovalRequestValue) -> tuple[str, str]:
    return "approved", "approved automatically by agentpipe demo"


def run_demo(
    client: AgentpipeClient,
    answer: Answer,
    timeout: float,
    on_event: OnEvent | None = None,
    reviewer: str = DEMO_REVIEWER,
) -> list[DemoRow]:
    batch = uuid.uuid4().hex[:8]
    rows = {p: DemoRow(p, f"demo-{batch}-{p}", "missing") for p in PATTERNS}
    by_id = {row.request_id: row for row in rows.values()}
    sent_at: dict[str, float] = {}
    notify = on_event or (lambda kind, detail: None)

    def on_approval_request(record: Record) -> None:
        request = as_approval_request(record.json())  # anyone can write to the topic: check the shape
        if request is None or request["request_id"] != rows[HITL].request_id:
            return
        decision, comment = answer(request)
        publish_decision(client.publisher, request["approval_id"], decision, reviewer, comment)
        notify(
            "approval",
            {"approval_id": request["approval_id"], "request_id": request["request_id"], "decision": decision},
        )

    def on_result(result: AgentResult) -> None:
        row = by_id[result.request_id]
        row.status, row.route, row.output = result.status, result.route, first_line(result.output)
        if result.error:
            row.output = f"{result.error} {row.output}".strip()
        row.latency_s = time.monotonic() - sent_at[row.request_id]
        notify("result", {"pattern": row.pattern, "status": row.status})

    with client.watch_results(PATTERNS, extra_topics=[approval_requests_topic()]) as results:
        sent = []
        for pattern, row in rows.items():
            sent_at[row.request_id] = time.monotonic()
            key = f"demo-{batch}" if PATTERNS[pattern].keyed else None
            sent.append(client.send(pattern, {}, key=key, request_id=row.request_id))
            notify("sent", {"pattern": pattern, "request_id": row.request_id})
        results.wait_for_sent(sent, timeout, on_result=on_result, on_other=on_approval_request)
    return list(rows.values())
