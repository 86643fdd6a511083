"""What one benchmark run does (``BenchConfig``) and the command line options that set it.

Kept free of heavy imports so ``agentpipe`` can build its parser with ``add_arguments``;
the command line (``benchmarks.cli``) and the runner (``benchmarks.runner``) both read it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Relative: reports go under the working directory, not into the installed package.
RESULTS_DIR = Path("benchmark-results")
VARIANTS = ("restate-kafka", "restate-ingress", "restate-floor", "baseline-sequential", "baseline-concurrent")
LOAD_MODES = ("closed", "open")  # how the load is offered (see benchmarks.load)


@dataclass
class BenchConfig:
    pattern: str = "chaining"
    latencies: list[float] = field(default_factory=lambda: [0.0, 100.0, 1000.0])
    modes: list[str] = field(default_factory=lambda: list(LOAD_MODES))
    variants: list[str] = field(default_factory=lambda: list(VARIANTS))
    concurrency: int = 100
    rate: float = 100.0
    duration: float = 15.0
    warmup: float = 3.0
    overhead_requests: int = 100
    in_flight: int = 1000
    in_flight_latency: float = 2000.0
    profile_seconds: float = 15.0
    profile_latency: float = 100.0
    label: str = ""
    compare: Path | None = None
    out: Path = RESULTS_DIR
    name: str = "latest"
    quick: bool = False


def quick_config() -> BenchConfig:
    """The smoke run: 0 ms model, a few seconds per variant, small N."""
    return BenchConfig(
        latencies=[0.0],
        concurrency=4,
        rate=20.0,
        duration=1.0,
        warmup=0.3,
        overhead_requests=8,
        in_flight=40,
        in_flight_latency=300.0,
        profile_seconds=1.0,
        profile_latency=0.0,
        name="quick",
        quick=True,
    )


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _choices(allowed: tuple[str, ...]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        items = [x.strip() for x in text.split(",") if x.strip()]
        bad = [x for x in items if x not in allowed]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(bad)}; choose from {', '.join(allowed)}")
        return items

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options, for ``python -m benchmarks`` and the ``agentpipe bench`` subcommand."""
    d = BenchConfig()
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 0 ms model, a few seconds per variant, small N (what the test runs)",
    )
    parser.add_argument(
        "--pattern",
        default=d.pattern,
        help="pattern to drive (default chaining; the plain-consumer baselines exist for chaining only)",
    )
    parser.add_argument("--latencies", type=_floats, help="offline model latencies in ms, e.g. 0,100,1000")
    parser.add_argument("--modes", type=_choices(LOAD_MODES), help="closed,open")
    parser.add_argument("--variants", type=_choices(VARIANTS), help=",".join(VARIANTS))
    parser.add_argument("--concurrency", type=int, help=f"closed loop: requests in flight (default {d.concurrency})")
    parser.add_argument("--rate", type=float, help=f"open loop: requests per second (default {d.rate:g})")
    parser.add_argument("--duration", type=float, help=f"measured seconds per variant (default {d.duration:g})")
    parser.add_argument("--warmup", type=float, help=f"unmeasured seconds before each (default {d.warmup:g})")
    parser.add_argument("--overhead-requests", type=int, help="requests per overhead probe (0 skips it)")
    parser.add_argument(
        "--in-flight", type=int, help=f"requests produced at once for the memory check (default {d.in_flight}; 0 skips)"
    )
    parser.add_argument("--in-flight-latency", type=float, help="model latency (ms) during the in-flight check")
    parser.add_argument("--profile-seconds", type=float, help="py-spy sampling time (0 skips profiling)")
    parser.add_argument("--profile-latency", type=float, help="model latency (ms) while profiling")
    parser.add_argument(
        "--label", help="what this run measures, e.g. 'after: aiohttp LLM client' (goes into the table)"
    )
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="JSON",
        help="an earlier run's .json: adds a before → after table (copy latest.json aside first)",
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        metavar="JSON",
        help="only render the table and plot again from a run's .json (no stack needed)",
    )
    parser.add_argument("--out", type=Path, help=f"output folder (default ./{RESULTS_DIR})")
    parser.add_argument("--name", help="file stem of the outputs (default 'latest'; 'quick' with --quick)")


def config_from(args: argparse.Namespace) -> BenchConfig:
    config = quick_config() if args.quick else BenchConfig()
    for key in (
        "pattern",
        "latencies",
        "modes",
        "variants",
        "concurrency",
        "rate",
        "duration",
        "warmup",
        "overhead_requests",
        "in_flight",
        "in_flight_latency",
        "profile_seconds",
        "profile_latency",
        "label",
        "compare",
        "out",
        "name",
    ):
        value = getattr(args, key, None)
        if value is not None:
            setattr(config, key, value)
    return config
