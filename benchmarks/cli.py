"""Command line of the benchmark: ``python -m benchmarks`` / ``agentpipe bench``.

The options are defined in ``benchmarks.config`` (``add_arguments``), which ``agentpipe``
imports to build its parser without loading the benchmark itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from benchmarks import report
from benchmarks.config import BenchConfig, add_arguments, config_from
from benchmarks.runner import BenchError, run_benchmark


def run(args: argparse.Namespace, command: str | None = None) -> int:
    """Run the benchmark for parsed arguments; prints the table, returns an exit code.

    ``command`` is how the run was started, for the report (default: ``agentpipe`` and its arguments).
    """
    config = config_from(args)
    if getattr(args, "from_json", None):
        return rerender(args.from_json, config)
    command = command or " ".join(["agentpipe", *sys.argv[1:]])
    try:
        _data, paths = asyncio.run(run_benchmark(config, command))
    except BenchError as exc:
        print(f"benchmark error: {exc}", file=sys.stderr)
        return 2
    print(paths["md"].read_text())
    print(f"wrote {paths['md']}, {paths['png']}, {paths['json']}", file=sys.stderr)
    return 0


def rerender(source: Path, config: BenchConfig) -> int:
    """Render an earlier run's numbers again (after a change to the report); the numbers stay as measured."""
    data = json.loads(source.read_text())
    name = config.name if config.name != "latest" or source.stem == "latest" else source.stem
    paths = report.write(data, config.out, name)
    print(paths["md"].read_text())
    print(f"wrote {paths['md']}, {paths['png']}, {paths['json']}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Throughput and latency of the durable pipeline against plain-consumer baselines "
        "(needs a running stack: agentpipe up).",
        epilog="example: python -m benchmarks --quick",
    )
    add_arguments(parser)
    argv = sys.argv[1:] if argv is None else argv
    return run(parser.parse_args(argv), " ".join(["python -m benchmarks", *argv]))
