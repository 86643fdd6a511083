"""`agentpipe compare` and `agentpipe replay --compare`: their arguments (no Kafka needed)."""

from __future__ import annotations

import pytest

from producers.cli import build_parser, main

BATCH = "replay-0000beef"


def test_compare_arguments():
    args = build_parser().parse_args(["compare", BATCH])
    assert (args.batch, args.pattern, args.show, args.report, args.json) == (BATCH, None, 5, None, False)
    args = build_parser().parse_args(
        ["compare", BATCH, "--pattern", "chaining", "--pattern", "chat", "--show", "0", "--report", "x.md", "--json"]
    )
    assert (args.pattern, args.show, str(args.report), args.json) == (["chaining", "chat"], 0, "x.md", True)


@pytest.mark.parametrize(
    "argv",
    [
        ["compare"],
        ["compare", BATCH, "--show", "-1"],
        ["compare", BATCH, "--show", "many"],
        ["compare", BATCH, "--pattern", "no-such-pattern"],
        ["replay", "t", "--pattern", "chaining", "--compare", "--show", "-2"],
    ],
)
def test_compare_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_replay_compare_arguments():
    args = build_parser().parse_args(
        ["replay", "agent.requests.chaining", "--pattern", "chaining", "--compare", "--show", "3", "--report", "r.md"]
    )
    assert (args.compare, args.wait, args.show, str(args.report)) == (True, False, 3, "r.md")
    plain = build_parser().parse_args(["replay", "agent.requests.chaining", "--pattern", "chaining"])
    assert (plain.compare, plain.show, plain.report) == (False, 5, None)


def test_replay_compare_with_dry_run_is_a_usage_error(capsys):
    assert main(["replay", "t", "--pattern", "chaining", "--compare", "--dry-run"]) == 2
    assert "--dry-run" in capsys.readouterr().err
