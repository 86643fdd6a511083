"""The replay comparison (producers/compare.py) over records in memory: the join, the diffs, the report."""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest

from agentpipe.messages import AgentResult, Usage
from producers.broker import Ranges, Record
from producers.compare import (
    BatchComparison,
    Example,
    Keeper,
    Side,
    batch_sequence,
    check_batch,
    code,
    markdown,
    output_diff,
    output_digest,
)
from producers.errors import InvalidInput

BATCH = "replay-0000beef"
TOPIC = "agent.results.chaining"


class Topic:
    """Records on one partition of a result topic, offsets in the order they are added."""

    def __init__(self, topic: str = TOPIC):
        self.topic = topic
        self.records: list[Record] = []

    def add(
        self,
        request_id: str,
        status: str = "ok",
        output: str | list[str] = "",
        replay_of: str | None = None,
        error: str | None = None,
        model: str = "model-a",
        partition: int = 0,
    ) -> Record:
        result = AgentResult(
            request_id=request_id,
            pattern="chaining",
            status=status,
            output=output,
            error=error,
            replay_of=replay_of,
            usage=Usage(llm_calls=1, model=model),
        )
        return self.raw(result.model_dump_json().encode(), partition)

    def raw(self, value: bytes, partition: int = 0) -> Record:
        record = Record(self.topic, partition, len(self.records), None, value, {}, None)
        self.records.append(record)
        return record

    def replay(self, sequence: int, replay_of: str | None, **kwargs) -> Record:
        return self.add(f"{BATCH}-{sequence:05d}", replay_of=replay_of, model="model-b", **kwargs)


def in_ranges(records: Iterable[Record], ranges: Ranges) -> list[Record]:
    return [
        r
        for r in records
        if (r.topic, r.partition) in ranges
        and ranges[(r.topic, r.partition)][0] <= r.offset < ranges[(r.topic, r.partition)][1]
    ]


def run(records: list[Record], show: int = 5, patterns: tuple[str, ...] = ("chaining",)) -> BatchComparison:
    """The three passes as compare_batch runs them, over a list instead of Kafka."""
    comparison = BatchComparison(BATCH, patterns, show)
    comparison.index(records)
    comparison.join(records)
    ranges = comparison.missing_replay_sides()
    if ranges:
        comparison.fill(in_ranges(records, ranges))
    return comparison


def one_of_each() -> Topic:
    topic = Topic()
    topic.add("o-same", output="| a | b |")
    topic.add("o-changed", output="| Metric Name | Value |\n| churn | 3% |")
    topic.add("o-regressed", output="fine")
    topic.add("o-fixed", status="error", error="model said 500", output="")
    topic.add("o-still", status="timed_out", output="")
    topic.add("o-list", output=["first", "second"])
    topic.add("unrelated", output="not ours")
    topic.replay(0, "o-same", output="| a | b |")
    topic.replay(1, "o-changed", output="| Metric | Value |\n| churn | 3% |")
    topic.replay(2, "o-regressed", status="error", error="HTTP 400 from the model", output="")
    topic.replay(3, "o-fixed", output="works now")
    topic.replay(4, "o-still", status="error", error="still broken", output="")
    topic.replay(5, "o-never-answered", output="x")
    topic.replay(6, "o-list", output=["first", "2nd", "third"])
    return topic


def test_every_outcome_is_counted_once():
    report = run(one_of_each().records).report()
    chaining = report.patterns["chaining"]
    assert chaining.replayed == 7
    assert chaining.counts == {"same": 1, "changed": 2, "regressed": 1, "fixed": 1, "still_failing": 1}
    assert chaining.no_original == 1
    assert chaining.no_original_examples == [(f"{BATCH}-00005", "o-never-answered")]
    assert report.regressed == 1
    assert chaining.replay_models == {"model-b": 7}
    assert chaining.original_models == {"model-a": 6}


def test_examples_carry_both_sides_and_the_diff():
    chaining = run(one_of_each().records).report().patterns["chaining"]
    changed = chaining.examples["changed"]
    assert [e.request_id for e in changed] == [f"{BATCH}-00001", f"{BATCH}-00006"]
    assert changed[0].diff() == [
        "--- original o-changed",
        f"+++ replay {BATCH}-00001",
        "@@ -1,2 +1,2 @@",
        "-| Metric Name | Value |",
        "+| Metric | Value |",
        " | churn | 3% |",
    ]
    [regressed] = chaining.examples["regressed"]
    assert regressed.replay is not None
    assert (regressed.original.status, regressed.replay.status) == ("ok", "error")
    assert regressed.replay.error == "HTTP 400 from the model"
    [fixed] = chaining.examples["fixed"]
    assert fixed.original.error == "model said 500"
    assert fixed.replay is not None and fixed.replay.output == "works now"


def test_the_first_original_counts_and_a_repeated_result_is_read_once():
    topic = Topic()
    topic.add("o-1", output="A")
    topic.add("o-1", output="A, published again later with another output")
    topic.replay(0, "o-1", output="A")
    topic.replay(0, "o-1", output="A repeated publish of the replay's result")
    chaining = run(topic.records).report().patterns["chaining"]
    assert chaining.replayed == 1
    assert chaining.counts["same"] == 1


def test_a_result_of_the_batch_is_never_an_original():
    topic = Topic()
    # A batch result whose replay_of names another result of the same batch: no original outside the batch.
    topic.replay(0, f"{BATCH}-00001", output="x")
    topic.replay(1, "o-9", output="y")
    chaining = run(topic.records).report().patterns["chaining"]
    assert chaining.no_original == 2


def test_one_original_replayed_twice_in_the_batch_counts_for_both():
    topic = Topic()
    topic.add("o-1", output="A")
    for sequence in range(12):  # past the point where duplicates are found with a set
        topic.replay(sequence, "o-1", output="A" if sequence % 2 else "B")
    topic.replay(3, "o-1", output="a repeat")
    chaining = run(topic.records).report().patterns["chaining"]
    assert chaining.replayed == 12
    assert (chaining.counts["same"], chaining.counts["changed"]) == (6, 6)


def test_a_batch_result_without_replay_of_has_no_original():
    topic = Topic()
    topic.add("o-1", output="A")
    topic.replay(0, None, output="A")
    chaining = run(topic.records).report().patterns["chaining"]
    assert chaining.no_original == 1
    assert chaining.no_original_examples == [(f"{BATCH}-00000", "")]


def test_records_that_are_not_results_are_skipped_and_counted():
    topic = Topic()
    topic.add("o-1", output="A")
    topic.raw(b"not json")
    topic.raw(json.dumps({"request_id": f"{BATCH}-00000", "status": "maybe"}).encode())  # ours, but not a result
    topic.raw(json.dumps({"request_id": "o-2"}).encode())
    topic.replay(1, "o-1", output="A")
    topic.raw(json.dumps({"request_id": f"{BATCH}-7", "status": "ok"}).encode())  # not the planner's id form
    report = run(topic.records).report()
    assert report.patterns["chaining"].counts["same"] == 1
    assert report.skipped == 1


def test_other_topics_and_other_batches_are_ignored():
    topic, other = Topic(), Topic("agent.results.orchestrator")
    topic.add("o-1", output="A")
    topic.add("replay-00000000-00000", replay_of="o-1", output="B")  # another batch
    other.add(f"{BATCH}-00000", replay_of="o-1", output="on a topic not compared")
    topic.replay(0, "o-1", output="A")
    report = run([*topic.records, *other.records]).report()
    assert list(report.patterns) == ["chaining"]
    assert report.patterns["chaining"].replayed == 1


def test_per_pattern_each_batch_result_meets_the_original_on_its_own_topic():
    chaining, orchestrator = Topic(), Topic("agent.results.orchestrator")
    chaining.add("o-1", output="A")
    orchestrator.add("o-1", output="orchestrated")
    chaining.replay(0, "o-1", output="A")
    orchestrator.replay(1, "o-1", output="orchestrated differently")
    report = run([*chaining.records, *orchestrator.records], patterns=("chaining", "orchestrator")).report()
    assert report.patterns["chaining"].counts["same"] == 1
    assert report.patterns["orchestrator"].counts["changed"] == 1


def test_pass_two_stops_once_every_original_was_met_and_pass_three_fetches_the_replay_sides():
    topic = Topic()
    topic.replay(0, "o-1", output="new")  # the batch result first: pass 2 meets it before its original
    topic.add("o-1", output="old")
    for i in range(50):
        topic.add(f"later-{i}", output="not needed")
    comparison = run(topic.records)
    assert comparison.records_read[1] == 2  # stopped at the last original
    assert comparison.records_read[2] == 1  # pass 3 read the one record it needed
    [example] = comparison.report().patterns["chaining"].examples["changed"]
    assert example.replay is not None and example.replay.output == "new"


def test_pass_two_takes_the_replay_side_it_meets_after_the_original_and_needs_no_pass_three():
    topic = Topic()
    topic.add("o-1", output="old")
    topic.add("o-2", output="gone")  # never replayed... and one original is missing, so pass 2 reads to the end
    topic.replay(0, "o-1", output="new")
    topic.replay(1, "o-missing", output="x")
    comparison = run(topic.records)
    assert comparison.missing_replay_sides() == {}
    assert comparison.records_read[1] == 4
    assert comparison.records_read[2] == 0


def test_only_the_first_show_examples_by_sequence_are_kept():
    topic = Topic()
    for i in range(20):
        topic.add(f"o-{i}", output="old")
    for sequence in reversed(range(20)):  # met in reverse order
        topic.replay(sequence, f"o-{sequence}", output="new")
    chaining = run(topic.records, show=3).report().patterns["chaining"]
    assert chaining.counts["changed"] == 20
    assert [e.request_id for e in chaining.examples["changed"]] == [f"{BATCH}-{s:05d}" for s in range(3)]
    assert all(e.replay is not None for e in chaining.examples["changed"])


def test_show_zero_keeps_counts_only():
    report = run(one_of_each().records, show=0).report()
    chaining = report.patterns["chaining"]
    assert chaining.counts["changed"] == 2
    assert chaining.examples == {"changed": [], "regressed": [], "fixed": []}
    assert chaining.no_original_examples == []
    assert report.records_read[2] == 0


def test_keeper_keeps_the_lowest_sequences():
    keeper = Keeper(2)

    def example(n: int) -> Example:
        return Example(f"r-{n}", f"o-{n}", "changed", Side(f"o-{n}", "ok", "", None, ""))

    assert keeper.offer(5, 0, example(5)) == (True, None)
    assert keeper.offer(9, 1, example(9)) == (True, None)
    assert keeper.offer(7, 2, example(7)) == (True, 1)
    assert keeper.offer(8, 3, example(8)) == (False, None)
    assert [e.request_id for e in keeper.examples()] == ["r-5", "r-7"]


def test_the_report_as_json():
    report = run(one_of_each().records).report().to_dict()
    chaining = report["patterns"]["chaining"]
    assert report["batch"] == BATCH and report["regressed"] == 1
    assert {k: chaining[k] for k in ("replayed", "same", "changed", "regressed", "fixed", "still_failing")} == {
        "replayed": 7,
        "same": 1,
        "changed": 2,
        "regressed": 1,
        "fixed": 1,
        "still_failing": 1,
    }
    assert chaining["no_original"] == 1 and chaining["no_replay_result"] is None
    assert chaining["changed_examples"][0]["diff"][3:5] == ["-| Metric Name | Value |", "+| Metric | Value |"]
    assert chaining["regressed_examples"][0]["replay"]["error"] == "HTTP 400 from the model"
    assert chaining["no_original_examples"] == [{"request_id": f"{BATCH}-00005", "replay_of": "o-never-answered"}]
    json.dumps(report)  # serializable as it is


# -- diffs ------------------------------------------------------------------------


def test_text_outputs_differ_as_a_unified_diff():
    assert output_diff("a\nb\nc", "a\nB\nc", "o-1", "r-1") == [
        "--- original o-1",
        "+++ replay r-1",
        "@@ -1,3 +1,3 @@",
        " a",
        "-b",
        "+B",
        " c",
    ]


def test_a_trailing_newline_is_a_difference_too():
    assert output_diff("a", "a\n")[-1] == "+"


def test_list_outputs_differ_item_by_item():
    assert output_diff(["same", "old\ntail", "gone"], ["same", "new\ntail"]) == [
        "item 2: changed",
        "@@ -1,2 +1,2 @@",
        "-old",
        "+new",
        " tail",
        "item 3: only in the original",
        "-gone",
    ]
    assert output_diff(["a"], ["a", "b"]) == ["item 2: only in the replay", "+b"]


def test_text_against_a_list_says_so_and_diffs_the_joined_items():
    lines = output_diff("a\nb", ["a", "c"])
    assert lines[0] == "output was text, now a list of 2 items (items joined by newlines below)"
    assert "-b" in lines and "+c" in lines


def test_a_long_diff_is_clipped():
    lines = output_diff("\n".join(f"a{i}" for i in range(1000)), "\n".join(f"b{i}" for i in range(1000)))
    assert len(lines) == 201 and lines[-1].endswith("more diff lines")


def test_digests_tell_text_from_a_list_and_survive_lone_surrogates():
    assert output_digest("a") != output_digest(["a"])
    assert output_digest("a") == output_digest("a")
    assert output_digest("\ud800") != output_digest("")


# -- ids --------------------------------------------------------------------------


def test_batch_sequences_are_the_planners_ids_only():
    prefix = f"{BATCH}-"
    assert batch_sequence(prefix, f"{BATCH}-00042") == 42
    assert batch_sequence(prefix, f"{BATCH}-123456") == 123456
    # Fullwidth digits are digits to str.isdigit, not to the planner.
    for other in (
        f"{BATCH}-42",
        f"{BATCH}-0x1",
        f"{BATCH}-",
        "o-1",
        f"{BATCH}-" + "\uff10" * 4 + "\uff11",
        f"{BATCH}-000001",
    ):
        assert batch_sequence(prefix, other) is None


def test_a_request_id_given_as_batch_gets_a_hint():
    assert check_batch(" replay-0eb3e770 ") == "replay-0eb3e770"
    with pytest.raises(InvalidInput, match="its batch is replay-0eb3e770"):
        check_batch("replay-0eb3e770-00001")
    with pytest.raises(InvalidInput, match="invalid batch id"):
        check_batch("two words")


# -- markdown ---------------------------------------------------------------------


def test_markdown_report():
    report = run(one_of_each().records).report()
    report.replay = {"pattern": "chaining", "published": 8, "missing": 1}
    report.patterns["chaining"].no_replay_result = 1
    text = markdown(report, "2026-11-28T07:00:00.000Z")
    assert text.startswith(f"# Replay {BATCH}: what changed\n")
    assert "Compared 2026-11-28T07:00:00.000Z" in text
    assert "The replay published 8 request(s) to chaining; 1 had no result" in text
    assert "| chaining | 7 | 1 | 2 | 1 | 1 | 1 | 1 |" in text
    assert "Models that answered: originals model-a (6); replays model-b (7)." in text
    assert "```diff\n--- original o-changed\n" in text
    assert "-| Metric Name | Value |\n+| Metric | Value |\n" in text
    assert "item 2: changed" in text
    assert f"| `{BATCH}-00002` | `o-regressed` | ok | error | HTTP 400 from the model |" in text
    assert f"| `{BATCH}-00003` | `o-fixed` | error | ok | model said 500 |" in text
    assert f"- `{BATCH}-00005`: replay of `o-never-answered`" in text


def test_markdown_says_how_many_were_left_out_and_fences_hold_backticks():
    topic = Topic()
    for i in range(4):
        topic.add(f"o-{i}", output="```\ncode\n```")
    for i in range(4):
        topic.replay(i, f"o-{i}", output="```\nother | code\n```")
    text = markdown(run(topic.records, show=2).report())
    assert "### Changed outputs (first 2 of 4)" in text
    assert "````diff\n" in text  # longer than the backtick runs inside


def test_code_spans_and_cells_hold_any_text():
    assert code("plain") == "`plain`"
    assert code("a`b") == "`` a`b ``"
    assert code("two\nlines") == "`two lines`"
