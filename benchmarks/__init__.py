"""Benchmark of the durable pipeline against plain-consumer baselines, measured against the targets.

``python -m benchmarks [--quick]`` or ``agentpipe bench``; needs a running stack
(``agentpipe up``). Writes ``benchmarks/results/latest.{md,png,json}`` and ``profile.txt``.

Modules: ``config`` (what a run does, its command line options), ``cli`` (the command),
``runner`` (one run against the stack), ``load``, ``baselines``, ``overhead``, ``monitor``,
``profile`` (the measurements) and ``report`` (table, plot, JSON).
"""
