"""`agentpipe bench`: the benchmark of benchmarks/, durable pipeline against plain-consumer baselines."""

from __future__ import annotations

import argparse

from producers.commands.base import Subcommands, add_command


def cmd_bench(args: argparse.Namespace) -> int:
    from benchmarks import run  # imported on use: it pulls in matplotlib

    return run(args)


def register(sub: Subcommands) -> None:
    from benchmarks import add_arguments  # argparse only

    parser = add_command(
        sub, "bench", "benchmark the durable pipeline against plain-consumer baselines",
        ["agentpipe bench --quick", "agentpipe bench --label after --compare benchmarks/results/before.json"],
        cmd_bench,
        "Needs the local stack with the offline model (agentpipe up). Writes benchmarks/results/latest.{md,png,json}.",
    )
    add_arguments(parser)
