"""Every declared pattern is served by the agent service, subscribed from its topic and documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agentpipe.gated import gated_topic
from agentpipe.messages import AgentRequest, AgentResult
from agentpipe.patterns import INGEST_HANDLER
from agentpipe.patterns import PATTERNS as CONTRACT
from agentpipe.topics import request_topic, result_topic
from handlers.catalog import PATTERNS
from handlers.pattern_service import pattern_service
from subscriptions.desired import desired_subscriptions
from subscriptions.kafka_topics import desired_topics

DOCS = Path(__file__).resolve().parents[2] / "docs"

pytestmark = pytest.mark.parametrize("name", list(PATTERNS))


def test_the_declaration_is_consistent(name: str) -> None:
    pattern = PATTERNS[name]
    assert pattern.spec is CONTRACT[name]  # the server runs the contract's spec, in the contract's order
    assert list(PATTERNS) == list(CONTRACT)
    assert pattern.name == name
    assert issubclass(pattern.request, AgentRequest)
    pattern.request.model_validate({})  # every field has a default: {} runs the example


def test_served_with_a_typed_handler(name: str) -> None:
    pattern = PATTERNS[name]
    component = pattern_service(pattern)
    assert component.name == pattern.service
    handler = component.handlers[pattern.handler]
    assert handler.handler_io.input_type is not None and handler.handler_io.input_type.annotation is pattern.request
    assert handler.handler_io.output_type is not None and handler.handler_io.output_type.annotation is AgentResult
    assert handler.kind == ("exclusive" if pattern.keyed else None)


def test_served_by_the_agent_service_app(name: str) -> None:
    from handlers import app

    served = {(component.name, handler) for component in app.services() for handler in component.handlers}
    assert (PATTERNS[name].service, PATTERNS[name].handler) in served


def test_subscribed_from_its_request_topic(name: str) -> None:
    pattern = PATTERNS[name]
    topic = request_topic(name)
    # A keyed pattern's records reach Restate through the gate (subscriptions/gate.py), from its gated topic.
    read_from = gated_topic(topic) if pattern.keyed else topic
    [subscription] = [s for s in desired_subscriptions() if s.topic == read_from]
    # Delivered to the pattern's own service, to its private ingest handler (chat: keyed by the session).
    assert (subscription.service, subscription.handler, subscription.keyed) == (
        pattern.service,
        INGEST_HANDLER,
        pattern.keyed,
    )
    assert topic in desired_topics() and result_topic(name) in desired_topics()


def test_documented(name: str) -> None:
    pattern = PATTERNS[name]
    patterns_md = (DOCS / "patterns.md").read_text()
    contract_md = (DOCS / "contract.md").read_text()
    assert re.search(rf"^## {re.escape(name)}$", patterns_md, re.M), f"docs/patterns.md has no section for {name}"
    assert f"`{pattern.service}/{pattern.handler}`" in patterns_md
    row = re.compile(
        rf"^\| {re.escape(name)} \| `{re.escape(request_topic(name))}` \| "
        rf"`{re.escape(pattern.service)}/{re.escape(pattern.handler)}`[^|]*\| "
        rf"`{re.escape(result_topic(name))}` \|$",
        re.M,
    )
    assert row.search(contract_md), f"docs/contract.md's topic table has no row for {name} with its topics and handler"
