"""`agentpipe replay --model`: one slice runs again on another model, and every result names it."""

from __future__ import annotations

from agentpipe.topics import result_topic
from tests.cli.cli_run import agentpipe, json_lines
from tests.cli.test_cli_replay import fill, source_topic  # noqa: F401 - the fixture is used by name
from tests.conftest import SECOND_MODEL
from tests.kafka_io import TopicReader


def test_replay_with_another_model_names_it_in_every_result(source_topic):  # noqa: F811
    fill(source_topic, 6)
    with TopicReader.open([result_topic("chaining")]) as reader:
        proc = agentpipe(
            "replay",
            source_topic,
            "--pattern",
            "chaining",
            "--model",
            SECOND_MODEL,
            "--temperature",
            "0.3",
            "--wait",
            "--json",
            timeout=180,
        )
        assert proc.returncode == 0, proc.stderr
        [summary] = json_lines(proc.stdout)
        batch = summary["batch"]
        reader.collect(lambda seen: sum(r["value"]["request_id"].startswith(batch) for r in seen) == 6)
    results = [r["value"] for r in reader.seen if r["value"]["request_id"].startswith(batch)]
    assert [r["usage"]["model"] for r in results] == [SECOND_MODEL] * 6
    assert all(r["status"] == "ok" and r["usage"]["llm_calls"] == 3 for r in results)


def test_replay_with_a_model_outside_the_allow_list_gets_no_results(source_topic):  # noqa: F811
    fill(source_topic, 2)
    proc = agentpipe(
        "replay",
        source_topic,
        "--pattern",
        "chaining",
        "--model",
        "gpt-unlisted",
        "--wait",
        "--timeout",
        "20",
        "--json",
        timeout=120,
    )
    [summary] = json_lines(proc.stdout)
    assert summary["published"] == 2 and summary["missing"] == 2  # dead-lettered by the intake
    assert proc.returncode == 4
