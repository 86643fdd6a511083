"""Benchmark of the durable pipeline against plain-consumer baselines, measured against the targets.

``python -m benchmarks [--quick]`` or ``agentpipe bench``; needs a running stack
(``agentpipe up``). Writes ``latest.{md,png,json}`` and ``profile.txt`` into ``./benchmark-results/``
(``--out DIR`` to change it); the run the README shows is kept in ``docs/benchmarks/``.

Modules: ``config`` (what a run does, its command line options), ``cli`` (the command),
``runner`` (one run against the stack), ``load``, ``baselines``, ``overhead``, ``monitor``,
``profile`` (the measurements) and ``report`` (table, plot, JSON).

``python -m benchmarks.scaling`` (module ``scaling``) starts the stacks itself: the same load
against the cluster with 1, 2, 3 agent-service processes, the single node and baseline (b).
"""
