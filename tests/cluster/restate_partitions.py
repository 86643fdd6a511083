"""Who leads each Restate partition, from the cluster's own view (restatectl sql over the node ports).

A node's /health answering is not enough to start a fault test: after a loss, or a node that
was too starved to gossip and was declared dead, the cluster controller moves partitions away
and back again for some seconds. An invocation running while its partition changes leader can
have an attempt on the deposed leader carry on past a step the new leader runs again, which a
test of one injected fault must not mistake for its own fault's doing.
"""

from __future__ import annotations

import json
import subprocess
import time

from agentpipe.settings import CLUSTER_SIZE, get_settings
from stack.installs import restatectl_binary

# Partition -> (leader node with its generation, leader epoch, partition configuration version).
Leadership = dict[int, tuple[str, str, int]]


def restatectl_sql(query: str) -> list[dict]:
    settings = get_settings()
    nodes = ",".join(f"http://127.0.0.1:{settings.restate_ports(i)[2]}/" for i in range(CLUSTER_SIZE))
    done = subprocess.run(
        [str(restatectl_binary(settings.state_dir / "logs")), "-s", nodes, "sql", "--jsonl", query],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if done.returncode != 0:
        raise AssertionError(f"restatectl sql failed ({done.returncode}): {done.stderr[-500:]}")
    rows = []
    decoder = json.JSONDecoder()
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            # The row count is printed right after the last row, on the same line.
            rows.append(decoder.raw_decode(line)[0])
    return rows


def leadership() -> Leadership:
    """Each partition's leader as the cluster's partition table has it (empty leader: none)."""
    return {
        int(row["partition_id"]): (row.get("leader_gen_node_id") or "", str(row.get("leader_epoch")), row["v_current"])
        for row in restatectl_sql("SELECT * FROM partitions")
    }


def settled_now() -> tuple[bool, Leadership, str]:
    nodes = restatectl_sql("SELECT gen_node_id, state FROM nodes")
    if len(nodes) != CLUSTER_SIZE or any(n["state"] != "alive" for n in nodes):
        return False, {}, f"nodes: {[(n['gen_node_id'], n['state']) for n in nodes]}"
    leaders = leadership()
    acting = {
        int(row["partition_id"])
        for row in restatectl_sql("SELECT partition_id, gen_node_id, effective_mode, leader FROM partition_state")
        if row["effective_mode"] == "Leader" and row["gen_node_id"] == row["leader"]
    }
    missing = [p for p, (leader, _epoch, _version) in leaders.items() if not leader or p not in acting]
    if not leaders or missing:
        return False, leaders, f"partitions without an acting leader: {missing or 'all'}"
    return True, leaders, ""


def wait_settled(quiet: float = 5.0, timeout: float = 120.0) -> Leadership:
    """Every node alive and every partition led by the same leader, in the same epoch, for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    stable_since, last, why = None, None, "not asked yet"
    while time.monotonic() < deadline:
        ok, leaders, why = settled_now()
        if ok and leaders == last and stable_since is not None:
            if time.monotonic() - stable_since >= quiet:
                return leaders
        elif ok:
            stable_since, last = time.monotonic(), leaders
        else:
            stable_since, last = None, None
        time.sleep(0.5)
    raise AssertionError(f"Restate's partitions did not settle within {timeout:g} s: {why}; last seen {last}")
