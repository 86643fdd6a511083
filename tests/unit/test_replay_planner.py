"""The replay planner (producers/replay.py): new ids, replay_of, and the model a replay chooses."""

from __future__ import annotations

import json

import pytest

from producers.broker import Record
from producers.cli import build_parser
from producers.errors import InvalidInput
from producers.replay import ReplayPlanner


def record(value: dict | bytes, offset: int = 3, key: bytes | None = None) -> Record:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return Record(
        topic="agent.requests.chaining", partition=1, offset=offset, key=key, value=raw, headers={}, timestamp_ms=None
    )


def test_a_replayed_body_keeps_the_original_fields_and_gets_a_new_id_and_replay_of():
    planner = ReplayPlanner("chaining", batch="replay-0000abcd")
    item = planner.plan(record({"request_id": "orig-1", "message": "Revenue grew by 3%.", "source": {"x": 1}}))
    assert item is not None
    assert item.request_id == "replay-0000abcd-00000"
    assert item.replay_of == "orig-1"
    assert item.body == {"message": "Revenue grew by 3%.", "replay_of": "orig-1"}


def test_without_model_a_replay_keeps_the_model_the_original_chose():
    planner = ReplayPlanner("chaining")
    item = planner.plan(record({"request_id": "orig-1", "message": "m", "model": "first", "temperature": 0.7}))
    assert item is not None
    assert (item.body["model"], item.body["temperature"]) == ("first", 0.7)


def test_model_and_temperature_are_set_in_every_replayed_body():
    planner = ReplayPlanner("chaining", model="agentpipe-offline-second", temperature=0)
    items = list(
        planner.items(
            [
                record({"request_id": "a", "message": "m"}, offset=0),
                record({"request_id": "b", "message": "m", "model": "first", "temperature": 1.5}, offset=1),
            ]
        )
    )
    assert [(i.body["model"], i.body["temperature"]) for i in items] == [("agentpipe-offline-second", 0)] * 2
    # The derived fields still win over anything else in the body.
    assert [i.body["replay_of"] for i in items] == ["a", "b"]


def test_model_alone_leaves_the_temperature_as_it_was():
    planner = ReplayPlanner("chaining", model="other")
    item = planner.plan(record({"request_id": "a", "temperature": 0.2}))
    assert item is not None
    assert item.body == {"temperature": 0.2, "model": "other", "replay_of": "a"}


@pytest.mark.parametrize(
    ("model", "temperature", "message"),
    [("", None, "1 to 200 characters"), ("m" * 201, None, "1 to 200 characters"), (None, 2.5, "between 0 and 2")],
)
def test_a_model_or_temperature_the_contract_refuses_is_an_input_error(model, temperature, message):
    with pytest.raises(InvalidInput, match=message):
        ReplayPlanner("chaining", model=model, temperature=temperature)


def test_replay_parses_model_and_temperature():
    args = build_parser().parse_args(
        ["replay", "agent.requests.chaining", "--pattern", "chaining", "--model", "m2", "--temperature", "0.5"]
    )
    assert (args.model, args.temperature) == ("m2", 0.5)
    plain = build_parser().parse_args(["replay", "agent.requests.chaining", "--pattern", "chaining"])
    assert (plain.model, plain.temperature) == (None, None)


def test_replay_refuses_a_temperature_that_is_not_a_number(capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["replay", "t", "--pattern", "chaining", "--temperature", "warm"])
    assert exc.value.code == 2
    assert "--temperature" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b'{"message": "\\ud800 half a character"}', "lone surrogate"),
        (b'{"message": "a", "message": "b"}', "duplicate key"),
        (b'{"temperature": 1e400}', "too large"),
        (b'{"message": ' + b"[" * 100 + b"]" * 100 + b"}", "nested 101 deep"),
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"temperature": "hot"}', "not a chaining request"),
    ],
)
def test_a_record_the_pipeline_refuses_is_skipped_and_counted_not_fatal(raw, why):
    planner = ReplayPlanner("chaining", batch="replay-0000abcd")
    good = [record({"message": f"m{i}"}, offset=i) for i in range(3)]
    items = list(planner.items([good[0], record(raw, offset=9), *good[1:]]))
    assert [i.body["message"] for i in items] == ["m0", "m1", "m2"]
    assert [i.request_id for i in items] == [f"replay-0000abcd-0000{n}" for n in range(3)]
    assert planner.skipped == 1
    [reason] = planner.skip_reasons
    assert reason.startswith("agent.requests.chaining/1/9: ") and why in reason
    reason.encode("utf-8")  # printable: a lone surrogate in the reason would break the report
