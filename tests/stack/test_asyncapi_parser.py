"""The official AsyncAPI parser (@asyncapi/parser, npm) accepts docs/asyncapi.yaml and reads it as written.

Needs node and npm (the parser is installed into the cache on first use, by
stack/installs.py), not the stack: these tests do not use the session ``stack`` fixture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from handlers.catalog import PATTERNS
from producers import asyncapi, yaml_text

pytestmark = [pytest.mark.stack, pytest.mark.timeout(900)]

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / asyncapi.ASYNCAPI_FILE


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return asyncapi.validate(DOCUMENT)


def test_the_parser_finds_no_error(report: dict[str, Any]) -> None:
    errors = [d for d in report["diagnostics"] if d["severity"] == "error"]
    assert errors == []
    assert asyncapi.problems(report) == []
    # What it may say besides: that AsyncAPI 3.1 exists (the document is 3.0 on purpose).
    assert {d["code"] for d in report["diagnostics"]} <= {"asyncapi-latest-version"}


def test_every_example_matches_its_schemas(report: dict[str, Any]) -> None:
    assert len(report["examples"]) == len(report["messages"]) == len(PATTERNS) + 5
    assert all(example["problems"] == [] for example in report["examples"])


def test_channels_and_operations(report: dict[str, Any]) -> None:
    channels = {c["address"] for c in report["channels"]}
    assert len(report["channels"]) == len(channels) == 2 * len(PATTERNS) + 3
    assert {f"agent.requests.{p}" for p in PATTERNS} | {f"agent.results.{p}" for p in PATTERNS} <= channels
    assert {"agent.approval-requests", "agent.approvals", "agent.dead-letters"} <= channels
    operations = {o["id"]: o for o in report["operations"]}
    assert len(operations) == len(channels)
    sends = {o["channels"][0] for o in operations.values() if o["action"] == "send"}
    receives = {o["channels"][0] for o in operations.values() if o["action"] == "receive"}
    assert sends == {f"agent.requests.{p}" for p in PATTERNS} | {"agent.approvals"}
    assert receives == channels - sends
    assert operations["sendChatRequest"]["messages"] == ["chatRequest"]
    assert operations["receiveChatResult"]["messages"] == ["chatResult"]
    assert operations["receiveChainingResult"]["messages"] == ["result"]


def test_the_kafka_keys_are_read(report: dict[str, Any]) -> None:
    keys = {m["id"]: m["key"] for m in report["messages"]}
    assert keys["chatRequest"]["minLength"] == 1
    assert keys["approvalEvent"]["type"] == "string"


def test_the_parser_reads_what_was_written(report: dict[str, Any]) -> None:
    """The YAML writer (producers/yaml_text.py) against the parser's own YAML reader."""
    assert report["data"] == asyncapi.build()


def test_tricky_strings_read_back(tmp_path: Path) -> None:
    strings = [
        "3.0.0",
        "2026-11-28",
        "yes",
        "No",
        "null",
        "~",
        "a: b",
        "x #y",
        "#/x",
        "- item",
        "two\nlines",
        "tab\there",
        'back\\slash "quote"',
        "caf\u00e9",
        "line\u2028separator",
        "next\u0085line",
        "",
        " padded ",
        "a:b",
        "0x1F",
        "1_000",
        "12:30",
    ]
    values: dict[str, Any] = {"asyncapi": "3.0.0", "x-strings": strings, "x-numbers": [0, -1, 1.5, 1e-7, True, None]}
    path = tmp_path / "tricky.yaml"
    path.write_text(yaml_text.dump(values, "not an AsyncAPI document: only the values matter"))
    assert asyncapi.validate(path)["data"] == values
