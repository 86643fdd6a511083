"""Benchmark of the durable pipeline against plain-consumer baselines, measured against the targets.

``python -m benchmarks [--quick]`` or ``agentpipe bench``; needs a running stack
(``agentpipe up``). Writes ``benchmarks/results/latest.{md,png,json}`` and ``profile.txt``.
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    from benchmarks.cli import main as cli_main

    return cli_main(argv)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from benchmarks.cli import add_arguments as cli_add_arguments

    cli_add_arguments(parser)


def run(args: argparse.Namespace, command: str | None = None) -> int:
    from benchmarks.cli import run as cli_run

    return cli_run(args, command)
