"""docs/asyncapi.yaml and docs/schemas/ are what `agentpipe schema` generates, and say what agentpipe does.

The official parser's verdict on the document is tests/stack/test_asyncapi_parser.py (it needs node).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from agentpipe.messages import AgentResult, ApprovalEvent, signature_problem
from agentpipe.settings import get_settings
from agentpipe.topics import (
    approval_requests_topic,
    approvals_topic,
    dead_letters_topic,
    request_topic,
    result_topic,
)
from handlers.catalog import PATTERNS
from producers import asyncapi, yaml_text
from producers.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
# Request examples the docs do not show (the generator takes the pattern's own example text).
NOT_IN_THE_DOCS = {
    "remoteAgentRoutingRequest",
    "parallelAgentsRequest",
    "orchestratorRequest",
    "evaluatorOptimizerRequest",
}


def test_the_committed_files_are_the_generated_ones() -> None:
    differences = asyncapi.differences(DOCS)
    assert differences == [], "run `agentpipe schema` and commit the result:\n" + "\n".join(differences)


def test_a_changed_file_is_named(tmp_path: Path) -> None:
    asyncapi.write(tmp_path)
    assert asyncapi.differences(tmp_path) == []
    (tmp_path / "schemas" / "result.json").write_text("{}\n")
    (tmp_path / "schemas" / "gone.json").write_text("{}\n")
    (tmp_path / "asyncapi.yaml").unlink()
    assert asyncapi.differences(tmp_path) == [
        "asyncapi.yaml: missing",
        "schemas/result.json: differs from the generated file (first at line 1: '{}', generated '{')",
        "schemas/gone.json: no message has this schema any more",
    ]
    assert asyncapi.write(tmp_path) == ["asyncapi.yaml", "schemas/gone.json", "schemas/result.json"]
    assert asyncapi.differences(tmp_path) == []


def test_the_command_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "--docs", str(tmp_path)]) == 0
    assert f"wrote {tmp_path / 'asyncapi.yaml'}" in capsys.readouterr().out
    assert main(["schema", "--check", "--docs", str(tmp_path)]) == 0
    (tmp_path / "schemas" / "dead-letter.json").write_text("{}\n")
    assert main(["schema", "--check", "--docs", str(tmp_path)]) == 1
    assert f"{tmp_path / 'schemas' / 'dead-letter.json'}: differs from the generated file" in capsys.readouterr().err
    assert (tmp_path / "schemas" / "dead-letter.json").read_text() == "{}\n"  # --check writes nothing


def test_the_environment_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = asyncapi.generated_files()
    monkeypatch.setenv("AGENTPIPE_TOPIC_PREFIX", "acme.agent.")
    monkeypatch.setenv("AGENTPIPE_REQUEST_PARTITIONS", "12")
    monkeypatch.setenv("AGENTPIPE_KAFKA_PORT", "29092")
    get_settings.cache_clear()
    assert get_settings().topic_prefix == "acme.agent."
    assert asyncapi.generated_files() == defaults


def test_every_topic_is_a_channel_with_one_operation() -> None:
    document = asyncapi.build()
    prefix = "agent."
    expected = {
        *(request_topic(p, prefix) for p in PATTERNS),
        *(result_topic(p, prefix) for p in PATTERNS),
        approval_requests_topic(prefix),
        approvals_topic(prefix),
        dead_letters_topic(prefix),
    }
    channels = document["channels"]
    assert {c["address"] for c in channels.values()} == expected
    assert len(channels) == len(expected) == 2 * len(PATTERNS) + 3
    used = [op["channel"]["$ref"].removeprefix("#/channels/") for op in document["operations"].values()]
    assert sorted(used) == sorted(channels)
    # What a client produces it sends; what it consumes it receives.
    sends = {
        channels[op["channel"]["$ref"].split("/")[-1]]["address"]
        for op in document["operations"].values()
        if op["action"] == "send"
    }
    assert sends == {*(request_topic(p, prefix) for p in PATTERNS), approvals_topic(prefix)}
    for op in document["operations"].values():
        channel_id = op["channel"]["$ref"].split("/")[-1]
        for ref in op["messages"]:
            assert ref["$ref"].startswith(f"#/channels/{channel_id}/messages/")
            assert ref["$ref"].split("/")[-1] in channels[channel_id]["messages"]


def messages() -> dict[str, dict[str, Any]]:
    return asyncapi.build()["components"]["messages"]


def key_of(message: str) -> dict[str, Any]:
    key: dict[str, Any] = messages()[message]["bindings"]["kafka"]["key"]
    return key


def test_keys_and_headers() -> None:
    assert key_of("chatRequest")["minLength"] == 1 and "Required" in key_of("chatRequest")["description"]
    assert "not used by agentpipe" in key_of("chainingRequest")["description"]
    assert key_of("result")["description"] == "The request id."
    assert key_of("chatResult")["description"].startswith("The session id.")
    assert key_of("approvalRequest")["description"] == "The approval id."
    assert key_of("approvalEvent")["description"].startswith("The approval id")
    # handlers/runtime.py publish_result: the two headers of every result record.
    for name in ("result", "chatResult"):
        headers = messages()[name]["headers"]
        assert sorted(headers["properties"]) == sorted(headers["required"]) == ["pattern", "request-id"]
    assert messages()["chatResult"]["headers"]["properties"]["pattern"]["const"] == "chat"
    assert "headers" not in messages()["chainingRequest"]


def test_payloads_refer_to_component_schemas() -> None:
    document = asyncapi.build()
    schemas = document["components"]["schemas"]
    assert {"AgentResult", "Usage", "Source", "ApprovalRequest", "ApprovalEvent", "DeadLetter"} <= set(schemas)
    for message in messages().values():
        assert message["payload"]["$ref"].removeprefix("#/components/schemas/") in schemas
    text = json.dumps(document)
    for ref in re.findall(r'"\$ref": "(#/components/schemas/[^"]+)"', text):
        assert ref.split("/")[-1] in schemas
    assert "$defs" not in text


def test_each_schema_file_is_its_model() -> None:
    for message in asyncapi.all_messages():
        schema = json.loads((DOCS / "schemas" / f"{message.file}.json").read_text())
        assert schema["title"] == message.model.__name__
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    files = sorted(p.name for p in (DOCS / "schemas").iterdir())
    assert files == sorted(
        [f"{p}-request.json" for p in PATTERNS]
        + ["result.json", "approval-request.json", "approval-event.json", "dead-letter.json"]
    )


def example_models() -> list[tuple[str, type[BaseModel], dict[str, Any]]]:
    found = []
    for message in asyncapi.all_messages():
        found.append((message.id, message.model, message.example.payload))
    return found


@pytest.mark.parametrize(
    ("message", "model", "payload"), example_models(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_example_is_a_valid_record(message: str, model: type[BaseModel], payload: dict[str, Any]) -> None:
    record = model.model_validate(payload)
    if not message.endswith("Request") or message == "approvalRequest":
        # What agentpipe publishes (or `agentpipe approve` sends): the example is such a record, field for field.
        assert record.model_dump() == payload


def test_result_examples_carry_their_headers_and_key() -> None:
    for name in ("result", "chatResult"):
        example = messages()[name]["examples"][0]
        payload = example["payload"]
        assert example["headers"] == {"request-id": payload["request_id"], "pattern": payload["pattern"]}
    chat = AgentResult.model_validate(messages()["chatResult"]["examples"][0]["payload"])
    assert chat.session_id and f"key {chat.session_id}" in messages()["chatResult"]["examples"][0]["summary"]


def test_the_approval_event_example_is_signed_as_it_says() -> None:
    example = messages()["approvalEvent"]["examples"][0]
    assert "example-key" in example["summary"]
    assert signature_problem(b"example-key", ApprovalEvent.model_validate(example["payload"])) == ""


def json_blocks(*docs: str) -> list[Any]:
    """Every JSON value in the docs' json code blocks (a block may hold several, one after the other)."""
    decoder = json.JSONDecoder()
    values = []
    for doc in docs:
        for block in re.findall(r"```json\n(.*?)```", (DOCS / doc).read_text(), flags=re.S):
            rest = block.strip()
            while rest:
                value, end = decoder.raw_decode(rest)
                values.append(value)
                rest = rest[end:].strip()
    return values


def test_the_examples_are_the_docs_records() -> None:
    """The document shows the records docs/contract.md and docs/patterns.md show, not others."""
    blocks = json_blocks("contract.md", "patterns.md")
    for name, message in messages().items():
        payload = message["examples"][0]["payload"]
        if name in NOT_IN_THE_DOCS:
            assert payload not in blocks
        else:
            assert payload in blocks, f"{name}'s example is not in docs/contract.md or docs/patterns.md"


def test_the_contract_points_to_the_generated_files() -> None:
    contract = (DOCS / "contract.md").read_text()
    assert "asyncapi.yaml" in contract and "schemas/" in contract
    assert "## Schema versions" in contract
    assert "docs/asyncapi.yaml" in (ROOT / "README.md").read_text()


# -- the YAML writer -------------------------------------------------------------

PLAIN = [
    "agent.requests.chat",
    "Request Id",
    "$ref",
    "request-id",
    "Optional; not used (really)",
    "a:b",
    "x#y",
    'back\\slash "quote"',  # plain scalars have no escapes: both stay as they are
]
QUOTED = [
    "",
    "3.0.0",
    "1",
    "-1",
    "0x1F",
    "2026-11-28",
    "2026-11-28T02:29:07.196Z",
    "yes",
    "No",
    "on",
    "null",
    "Null",
    "~",
    "true",
    "y",
    "a: b",
    "ends with:",
    "x #comment",
    "#/components/messages/result",
    " leading",
    "trailing ",
    "- item",
    "[list]",
    "{}",
    "*alias",
    "&anchor",
    "!tag",
    "|",
    ">",
    "'quoted'",
    '"quoted"',
    "%directive",
    "@at",
    "`tick",
    "two\nlines",
    "tab\there",
    "caf\u00e9",
    "line\u2028separator",
    "next\u0085line",
    "bom\ufeff",
]


@pytest.mark.parametrize("text", PLAIN)
def test_safe_strings_are_written_plain(text: str) -> None:
    assert yaml_text.scalar(text) == text


@pytest.mark.parametrize("text", QUOTED)
def test_other_strings_are_double_quoted_json_strings(text: str) -> None:
    written = yaml_text.scalar(text)
    assert written.startswith('"') and written.endswith('"')
    assert "\n" not in written and "\u2028" not in written and "\u0085" not in written
    assert json.loads(written) == text


def test_block_layout() -> None:
    data = {"a": [{"b": 1, "c": [True, None]}, [], {}], "d": {}, "e": {"f": 1.5, "g": ["x"]}}
    assert yaml_text.dump(data, "one\ntwo") == (
        "# one\n"
        "# two\n"
        "a:\n"
        "  - b: 1\n"
        "    c:\n"
        "      - true\n"
        "      - null\n"
        "  - []\n"
        "  - {}\n"
        "d: {}\n"
        "e:\n"
        "  f: 1.5\n"
        "  g:\n"
        "    - x\n"
    )


def test_only_json_data_is_written() -> None:
    with pytest.raises(TypeError):
        yaml_text.dump({"a": {1, 2}})
    with pytest.raises(TypeError):
        yaml_text.dump({"a": {1: "b"}})
