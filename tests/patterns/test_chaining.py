"""Chaining through Kafka: request topic in, contract-shaped result out, three journaled LLM steps."""

from __future__ import annotations

import re

from agentpipe.settings import get_settings
from agentpipe.topics import request_topic
from offline_model.client import OfflineModelControl
from tests.kafka_io import new_id, produce, result_reader, send_request, wait_for_results

CONTRACT_FIELDS = {"request_id", "pattern", "status", "output", "error", "source", "replay_of", "completed_at"}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def table_rows(markdown: str) -> list[tuple[str, str]]:
    rows = [line.strip().strip("|").split("|") for line in markdown.splitlines() if line.strip().startswith("|")]
    return [(name.strip(), value.strip()) for name, value in rows[2:]]


def numeric(value: str) -> float:
    return float(re.sub(r"[^0-9.\-]", "", value))


def test_chaining_result_has_the_contract_and_a_sorted_table(stack):
    with result_reader("chaining") as reader:
        text = "Revenue grew by 12%. Churn is at 3%. NPS rose to 40 points. Market share is now at 27%."
        request_id = send_request("chaining", {"message": text})
        record = wait_for_results("chaining", [request_id], reader)[request_id]

    value = record["value"]
    assert set(value) >= CONTRACT_FIELDS
    assert value["status"] == "ok", value
    assert value["pattern"] == "chaining"
    assert value["error"] is None and value["replay_of"] is None
    assert record["key"] == request_id
    assert record["headers"] == {"request-id": request_id, "pattern": "chaining"}
    assert value["source"]["topic"] == request_topic("chaining")
    assert RFC3339.match(value["completed_at"])

    lines = value["output"].splitlines()
    assert re.match(r"^\|\s*Metric Name\s*\|\s*Value\s*\|$", lines[0])
    rows = table_rows(value["output"])
    assert len(rows) == 4
    values = [numeric(v) for _, v in rows]
    assert values == sorted(values, reverse=True) == [40, 27, 12, 3]


def test_empty_request_runs_the_example_and_id_comes_from_record_coordinates(stack):
    with result_reader("chaining") as reader:
        partition, offset = produce(request_topic("chaining"), {})
        expected_id = f"{request_topic('chaining')}/{partition}/{offset}"
        record = wait_for_results("chaining", [expected_id], reader)[expected_id]
    value = record["value"]
    assert value["status"] == "ok"
    assert value["source"] == {"topic": request_topic("chaining"), "partition": partition, "offset": offset}
    assert "customer satisfaction" in value["output"]


def test_three_llm_steps_are_journaled_once_each(stack):
    model = OfflineModelControl(get_settings().offline_model_url)
    with result_reader("chaining") as reader:
        request_id = send_request("chaining", {"request_id": new_id("chain-steps")})
        wait_for_results("chaining", [request_id], reader)
    steps = [call["step"] for call in model.calls(request_id=request_id)]
    assert steps == ["Extract metrics", "Sort metrics", "Format as table"]
