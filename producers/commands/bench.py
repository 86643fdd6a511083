"""`agentpipe bench`: the benchmark of benchmarks/, durable pipeline against plain-consumer baselines."""

from __future__ import annotations

import argparse

from benchmarks.config import add_arguments
from producers.commands.base import Subcommands, add_command


def cmd_bench(args: argparse.Namespace) -> int:
    from benchmarks.cli import run  # imported on use: it pulls in the Kafka clients and matplotlib

    return run(args)


def register(sub: Subcommands) -> None:
    parser = add_command(
        sub,
        "bench",
        "benchmark the durable pipeline against plain-consumer baselines",
        ["agentpipe bench --quick", "agentpipe bench --label after --compare docs/benchmarks/latest.json"],
        cmd_bench,
        "Needs the local stack with the offline model (agentpipe up). Writes ./benchmark-results/latest.{md,png,json} (--out DIR).",
    )
    add_arguments(parser)
