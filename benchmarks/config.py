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
VARIANTS = (
    "restate-kafka",
    "restate-ingress",
    "restate-floor",
    "restate-shape",
    "baseline-sequential",
    "baseline-concurrent",
)
LOAD_MODES = ("closed", "open")  # how the load is offered (see benchmarks.load)
# What keeps the in-flight check's invocations waiting: a person's approval (human-in-the-loop
# requests whose content the model sends to review) or a slow model (the benchmarked pattern).
IN_FLIGHT_KINDS = ("approvals", "slow-model")
DEFAULT_OPEN_RATE_OF_BASELINE = 0.7
SLOW_MODEL_IN_FLIGHT = 1000  # the slow-model check's default N (it keeps N LLM calls open at once)


@dataclass
class BenchConfig:
    pattern: str = "chaining"
    latencies: list[float] = field(default_factory=lambda: [0.0, 100.0, 1000.0])
    modes: list[str] = field(default_factory=lambda: list(LOAD_MODES))
    variants: list[str] = field(default_factory=lambda: list(VARIANTS))
    concurrency: int = 100
    rate: float = 100.0
    # Open loop at this fraction of (b)'s closed-loop throughput at the same model latency (None: at ``rate``).
    # Applies when the run has both modes and baseline-concurrent, unless ``rate`` was given (``rate_given``).
    open_rate_of_baseline: float | None = DEFAULT_OPEN_RATE_OF_BASELINE
    open_rate_given: bool = False  # --open-rate-of-baseline was on the command line
    rate_given: bool = False  # --rate was on the command line
    duration: float = 15.0
    warmup: float = 3.0
    overhead_requests: int = 100
    in_flight: int = 10_000
    in_flight_kind: str = "approvals"
    in_flight_latency: float = 2000.0  # slow-model kind only
    in_flight_hold: float = 5.0  # approvals kind: seconds all N stay waiting (sampled) before they are approved
    profile_seconds: float = 15.0
    profile_latency: float = 100.0
    # The pipeline's open loop at these multiples of its own closed-loop throughput (empty: none).
    overload: list[float] = field(default_factory=list)
    # A backlog of this many chaining requests against a provider limited to limited_rate calls/s (0: none).
    limited: int = 0
    # A batch of this many chaining requests produced at once, no provider limit (0: none).
    batch: int = 0
    limited_rate: float = 30.0
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
        in_flight_hold=1.0,
        profile_seconds=1.0,
        profile_latency=0.0,
        name="quick",
        quick=True,
    )


def open_rate_fraction(config: BenchConfig) -> float | None:
    """The fraction of (b)'s closed-loop throughput the open loop offers, or None for the fixed ``rate``.

    Raises ValueError when --open-rate-of-baseline was asked for but cannot apply.
    """
    fraction = config.open_rate_of_baseline
    if config.rate_given:
        if config.open_rate_given and fraction:
            raise ValueError("give either --rate (a fixed open-loop rate) or --open-rate-of-baseline, not both")
        return None
    if not fraction:
        return None
    if fraction < 0:
        raise ValueError("--open-rate-of-baseline must be a positive fraction, e.g. 0.7 (0 turns it off)")
    missing = [
        what
        for what, present in (
            ("mode closed", "closed" in config.modes),
            ("mode open", "open" in config.modes),
            ("variant baseline-concurrent", "baseline-concurrent" in config.variants),
        )
        if not present
    ]
    if missing:
        if config.open_rate_given:
            raise ValueError(
                f"--open-rate-of-baseline needs {', '.join(missing)} in the run "
                "(the open loop's rate is derived from (b)'s closed loop); or give --rate"
            )
        return None  # the default applies only where it can
    return fraction


def ordered_modes(modes: list[str]) -> list[str]:
    """Closed loop first: an open loop's rate may be derived from a closed loop at the same model latency."""
    return sorted(modes, key=LOAD_MODES.index)


def derived_rate(fraction: float, baseline_rps: float | None) -> float | None:
    """The open loop's rate: ``fraction`` of (b)'s closed-loop throughput (None when (b) completed nothing)."""
    if not baseline_rps or baseline_rps <= 0:
        return None
    return max(round(fraction * baseline_rps, 1), 0.1)


def slow_model_problem(latency_ms: float, llm_timeout_s: float) -> str | None:
    """Why the slow-model in-flight check would measure nothing useful at this latency (None: it is fine)."""
    if latency_ms >= llm_timeout_s * 1000:
        return (
            f"--in-flight-latency {latency_ms:g} ms is at or above the agent service's LLM timeout "
            f"({llm_timeout_s:g} s, AGENTPIPE_LLM_TIMEOUT_S): every model call would time out and be retried, "
            "so the check would measure retries, not invocations in flight; use a lower latency or "
            "--in-flight-kind approvals"
        )
    return None


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
    parser.add_argument(
        "--rate",
        type=float,
        help=f"open loop: a fixed rate in requests per second (default: see --open-rate-of-baseline; else {d.rate:g})",
    )
    parser.add_argument(
        "--open-rate-of-baseline",
        type=float,
        metavar="FRACTION",
        help=f"open loop at FRACTION of (b)'s closed-loop throughput measured just before at the same model "
        f"latency (default {d.open_rate_of_baseline:g} when the run has both modes and baseline-concurrent "
        "and no --rate; 0 turns it off)",
    )
    parser.add_argument("--duration", type=float, help=f"measured seconds per variant (default {d.duration:g})")
    parser.add_argument("--warmup", type=float, help=f"unmeasured seconds before each (default {d.warmup:g})")
    parser.add_argument("--overhead-requests", type=int, help="requests per overhead probe (0 skips it)")
    parser.add_argument(
        "--in-flight",
        type=int,
        help=f"requests produced at once for the memory check (default {d.in_flight:,} approvals, "
        f"{SLOW_MODEL_IN_FLIGHT:,} with slow-model; 0 skips)",
    )
    parser.add_argument(
        "--in-flight-kind",
        choices=IN_FLIGHT_KINDS,
        help="what they wait for: 'approvals' (default; human-in-the-loop requests that all wait for a person, "
        "then are approved) or 'slow-model' (the pattern's requests against a slow model)",
    )
    parser.add_argument(
        "--in-flight-latency", type=float, help="slow-model: model latency (ms), below the agent's LLM timeout"
    )
    parser.add_argument(
        "--in-flight-hold",
        type=float,
        help=f"approvals: seconds all of them stay waiting before they are approved (default {d.in_flight_hold:g})",
    )
    parser.add_argument(
        "--overload",
        type=_floats,
        metavar="MULTIPLES",
        help="after the closed loops, the pipeline's open loop at these multiples of its own closed-loop "
        "throughput at the same model latency, e.g. 1.5,2 (needs mode closed and variant restate-kafka)",
    )
    parser.add_argument(
        "--limited",
        type=int,
        metavar="N",
        help="a backlog of N chaining requests against the offline model limiting one model "
        "(agentpipe-bench-limited, which the stack must allow) to --limited-rate calls a second, with chat "
        "during the drain (0 skips; default 0)",
    )
    parser.add_argument(
        "--limited-rate", type=float, help=f"calls a second the limited model takes (default {d.limited_rate:g})"
    )
    parser.add_argument(
        "--batch",
        type=int,
        metavar="N",
        help="N chaining requests produced at once with no provider limit, as a replay does: drain rate "
        "against the closed-loop capacity, memory per quarter of the drain (0 skips; default 0)",
    )
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
    config.rate_given = getattr(args, "rate", None) is not None
    config.open_rate_given = getattr(args, "open_rate_of_baseline", None) is not None
    if getattr(args, "in_flight_kind", None) == "slow-model" and not args.quick:
        config.in_flight = SLOW_MODEL_IN_FLIGHT
    for key in (
        "pattern",
        "latencies",
        "modes",
        "variants",
        "concurrency",
        "rate",
        "open_rate_of_baseline",
        "duration",
        "warmup",
        "overhead_requests",
        "in_flight",
        "in_flight_kind",
        "in_flight_latency",
        "in_flight_hold",
        "profile_seconds",
        "profile_latency",
        "overload",
        "limited",
        "batch",
        "limited_rate",
        "label",
        "compare",
        "out",
        "name",
    ):
        value = getattr(args, key, None)
        if value is not None:
            setattr(config, key, value)
    return config
