"""Sampling profile of the agent service under load, with py-spy.

py-spy attaches to the running process (no restart, no code change),
``--nonblocking`` so it does not pause the service while sampling, and
``--gil`` so only the thread holding the GIL is sampled: the service is one
asyncio loop, so GIL time is what limits it (threads waiting in librdkafka
or epoll would otherwise show up as busy). Percentages are shares of the
samples taken while Python code ran. The raw collapsed stacks are summarised into: top functions by self
time, top by inclusive time, time per package, and our own code
(``handlers/``, ``agentpipe/``) by inclusive time.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections import Counter
from pathlib import Path

OUR_PACKAGES = ("handlers/", "agentpipe/")


def py_spy() -> str | None:
    beside_python = Path(sys.executable).parent / "py-spy"
    return str(beside_python) if beside_python.exists() else shutil.which("py-spy")


async def record(pid: int, seconds: float, raw_file: Path, rate: int = 100) -> str | None:
    """Run py-spy for ``seconds``; returns an error text instead of raising (profiling is optional)."""
    binary = py_spy()
    if binary is None:
        return "py-spy is not installed (pip install -e '.[bench]')"
    process = await asyncio.create_subprocess_exec(
        binary,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--function",
        "--nonblocking",
        "--gil",
        "--output",
        str(raw_file),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode != 0 or not raw_file.exists():
        return f"py-spy failed (exit {process.returncode}): {output.decode(errors='replace').strip()[-300:]}"
    return None


def parse(raw_file: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in raw_file.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def _package(frame: str) -> str:
    # "func (restate/server_context.py:123)" → "restate"; stdlib files have no folder → "stdlib"
    location = frame.rpartition("(")[2].rstrip(")")
    path = location.rpartition(":")[0]
    if path.startswith("<"):
        return "<builtin>"
    return path.split("/")[0] if "/" in path else f"stdlib:{path}"


def summarize(stacks: list[tuple[list[str], int]], top: int = 25) -> dict:
    total = sum(count for _, count in stacks)
    self_time: Counter = Counter()
    inclusive: Counter = Counter()
    packages: Counter = Counter()
    for frames, count in stacks:
        self_time[frames[-1]] += count
        packages[_package(frames[-1])] += count
        for frame in set(frames):
            inclusive[frame] += count

    def share(counter: Counter, keep=lambda _f: True) -> list[tuple[str, float]]:
        return [(frame, round(100 * n / total, 1)) for frame, n in counter.most_common() if keep(frame)][:top]

    def ours(frame: str) -> bool:
        # The process entry frames are in every stack; they say nothing.
        return any(f"({p}" in frame for p in OUR_PACKAGES) and not frame.startswith(("serve (", "<module> ("))

    hottest_ours = next((frame for frame, _ in share(inclusive, ours)), None)
    return {
        "samples": total,
        "hottest_ours": hottest_ours,
        "inside_hottest_ours": inside(stacks, hottest_ours, total, top) if hottest_ours else None,
        "self": share(self_time),
        "inclusive": share(inclusive, lambda f: not f.startswith(("<module>", "_run_module_as_main", "_run_code"))),
        "packages": share(packages),
        "ours_inclusive": share(inclusive, ours),
        "ours_self_pct": round(100 * sum(n for f, n in self_time.items() if ours(f)) / total, 1) if total else 0.0,
    }


def inside(stacks: list[tuple[list[str], int]], frame: str, total: int, top: int) -> dict:
    """Where ``frame``'s time goes: self time of everything below it, by package and by function (% of all samples)."""
    packages: Counter = Counter()
    leaves: Counter = Counter()
    for frames, count in stacks:
        if frame in frames:
            packages[_package(frames[-1])] += count
            leaves[frames[-1]] += count

    def share(counter: Counter) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(top)]

    return {"packages": share(packages), "self": share(leaves)}


def render(summary: dict, context: str) -> str:
    lines = [
        f"# py-spy profile of the agent service — {context}",
        f"# {summary['samples']} samples holding the GIL; % of those samples",
        "",
    ]
    sections = [
        ("Top functions by self time", "self"),
        ("Time by package (self)", "packages"),
        ("Top functions by inclusive time", "inclusive"),
        ("Our code (handlers/, agentpipe/) by inclusive time", "ours_inclusive"),
    ]
    for title, key in sections:
        lines += [f"## {title}", *(f"{pct:6.1f}%  {frame}" for frame, pct in summary[key]), ""]
    if summary["hottest_ours"]:
        below = summary["inside_hottest_ours"]
        lines += [
            f"## Below {summary['hottest_ours']}: self time by package",
            *(f"{pct:6.1f}%  {name}" for name, pct in below["packages"]),
            "",
            f"## Below {summary['hottest_ours']}: self time by function",
            *(f"{pct:6.1f}%  {name}" for name, pct in below["self"]),
            "",
        ]
    lines.append(f"Self time inside our code: {summary['ours_self_pct']}%")
    return "\n".join(lines) + "\n"
