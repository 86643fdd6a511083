"""`agentpipe replay --compare` and `agentpipe compare`: what changed when a batch ran again.

The offline model's second variant ("b") makes every change predictable: a chaining table
about churn gets another header, a request that says "fail-me" is refused (HTTP 400, an
error result), everything else answers as before.
"""

from __future__ import annotations

import json
import uuid

import pytest

from agentpipe.settings import get_settings
from agentpipe.topics import request_topic
from offline_model.client import OfflineModelControl
from tests.cli.cli_run import agentpipe
from tests.kafka_io import new_id, produce, result_reader, wait_for_results

SAME, CHANGED, REGRESSED = 5, 4, 3


@pytest.fixture
def model(stack):
    control = OfflineModelControl(get_settings().offline_model_url)
    control.set_variant("a")
    yield control
    control.set_variant("a")  # the stack is shared: leave the default rules behind
    control.close()


def originals() -> list[dict]:
    """Requests whose answers variant b keeps (same), reheads (changed) or refuses (regressed)."""
    tag = uuid.uuid4().hex[:6]
    same = [{"message": f"Revenue grew by {i}%."} for i in range(SAME)]
    changed = [{"message": f"Revenue grew by {i}%. Churn is at {i + 1}%."} for i in range(CHANGED)]
    regressed = [{"message": f"Revenue grew by {i}%. fail-me"} for i in range(REGRESSED)]
    return [{**body, "request_id": f"cmp-{tag}-{n}"} for n, body in enumerate(same + changed + regressed)]


def report_of(stdout: str) -> dict:
    [line] = [line for line in stdout.splitlines() if line.strip()]
    return json.loads(line)


def counts(report: dict, pattern: str = "chaining") -> dict:
    keys = ("replayed", "same", "changed", "regressed", "fixed", "still_failing", "no_original")
    return {k: report["patterns"][pattern][k] for k in keys}


EXPECTED = {
    "replayed": SAME + CHANGED + REGRESSED,
    "same": SAME,
    "changed": CHANGED,
    "regressed": REGRESSED,
    "fixed": 0,
    "still_failing": 0,
    "no_original": 0,
}


def test_replay_compare_on_the_second_variant_counts_same_changed_and_regressed(model, tmp_path):
    bodies = originals()
    topic = request_topic("chaining")
    with result_reader("chaining") as reader:
        # One partition, so the slice is exactly these requests.
        offsets = [produce(topic, body, partition=0)[1] for body in bodies]
        first = wait_for_results("chaining", [b["request_id"] for b in bodies], reader, timeout=120)
    assert offsets == list(range(offsets[0], offsets[0] + len(bodies))), "another producer wrote in between"
    assert {r["value"]["status"] for r in first.values()} == {"ok"}

    model.set_variant("b")
    report_file = tmp_path / "report.md"
    slice_args = ("--partition", "0", "--from-offset", str(offsets[0]), "--to-offset", str(offsets[-1]))
    proc = agentpipe(
        "replay", topic, "--pattern", "chaining", *slice_args, "--compare", "--json", "--report", str(report_file),
        "--show", "2", "--timeout", "120",
        timeout=240,
    )  # fmt: skip
    model.set_variant("a")
    assert proc.returncode == 1, proc.stderr  # something regressed
    report = report_of(proc.stdout)
    assert counts(report) == EXPECTED
    chaining = report["patterns"]["chaining"]
    assert chaining["no_replay_result"] == 0
    assert report["replay"]["published"] == len(bodies) and report["replay"]["missing"] == 0
    assert report["report"] == str(report_file)
    batch = report["batch"]

    # The first two changed outputs by sequence, as diffs: only the table's header line differs.
    changed = chaining["changed_examples"]
    churn_ids = [b["request_id"] for b in bodies[SAME : SAME + 2]]
    assert [e["replay_of"] for e in changed] == churn_ids
    for example in changed:
        assert example["request_id"].startswith(f"{batch}-")
        assert [line for line in example["diff"] if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
            "-| Metric Name | Value |",
            "+| Metric | Value |",
        ]
    regressed = chaining["regressed_examples"]
    assert [e["replay_of"] for e in regressed] == [b["request_id"] for b in bodies[SAME + CHANGED :][:2]]
    assert all(e["original"]["status"] == "ok" and e["replay"]["status"] == "error" for e in regressed)

    text = report_file.read_text()
    assert f"| chaining | {len(bodies)} | {SAME} | {CHANGED} | {REGRESSED} | 0 | 0 | 0 |" in text
    assert "-| Metric Name | Value |\n+| Metric | Value |" in text
    assert f"### Changed outputs (first 2 of {CHANGED})" in text

    # The batch that already ran, compared again: from its pattern's topic, then from every result topic.
    for extra in (("--pattern", "chaining"), ()):
        again = agentpipe("compare", batch, *extra, "--json", "--report", str(tmp_path / "again.md"), timeout=120)
        assert again.returncode == 1, again.stderr
        assert counts(report_of(again.stdout)) == EXPECTED
        assert list(report_of(again.stdout)["patterns"]) == ["chaining"]


def test_compare_a_batch_whose_originals_never_had_results(stack, tmp_path):
    batch = f"replay-{uuid.uuid4().hex[:8]}"
    ids = [f"{batch}-{i:05d}" for i in range(3)]
    with result_reader("chaining") as reader:
        for request_id in ids:
            body = {"request_id": request_id, "replay_of": new_id("never"), "message": "Revenue grew by 4%."}
            produce(request_topic("chaining"), body)
        wait_for_results("chaining", ids, reader, timeout=120)

    report_file = tmp_path / "missing.md"
    proc = agentpipe("compare", batch, "--json", "--report", str(report_file), timeout=120)
    assert proc.returncode == 0, proc.stderr  # nothing regressed
    report = report_of(proc.stdout)
    assert counts(report) == {**dict.fromkeys(EXPECTED, 0), "replayed": 3, "no_original": 3}
    assert [e["request_id"] for e in report["patterns"]["chaining"]["no_original_examples"]] == ids
    assert report["records_read"]["pass3"] == 0
    assert "### No original result" in report_file.read_text()


def test_compare_input_errors(stack, tmp_path):
    unknown = agentpipe("compare", f"replay-{uuid.uuid4().hex[:8]}", "--report", str(tmp_path / "x.md"))
    assert unknown.returncode == 5 and "no result of batch" in unknown.stderr
    request_id = agentpipe("compare", "replay-0eb3e770-00001")
    assert request_id.returncode == 2 and "its batch is replay-0eb3e770" in request_id.stderr
    dry = agentpipe("replay", request_topic("chaining"), "--pattern", "chaining", "--compare", "--dry-run")
    assert dry.returncode == 2 and "--dry-run" in dry.stderr
