"""Which processes the local stack runs: one of each (single), or the cluster (stack/cluster.py)."""

from __future__ import annotations

from pathlib import Path

from agentpipe.settings import Settings
from stack.cluster import cluster_components
from stack.components import Component, single_node_components


def stack_components(settings: Settings, state_dir: Path) -> list[Component]:
    if settings.topology == "cluster":
        return cluster_components(settings, state_dir)
    return single_node_components(settings, state_dir)
