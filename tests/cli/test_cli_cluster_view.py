"""`agentpipe cluster` (and `agentpipe status` alone) on the single-node stack: one node, one broker."""

from __future__ import annotations

from agentpipe.settings import get_settings
from tests.cli.cli_run import agentpipe, json_lines


def test_the_single_node_stack_reports_one_healthy_node_and_broker(stack):
    for command in (["cluster", "--json"], ["status", "--json"]):
        proc = agentpipe(*command)
        assert proc.returncode == 0, proc.stderr
        [view] = json_lines(proc.stdout)
        assert view["topology"] == "single" and view["healthy"] is True
        assert [n["name"] for n in view["nodes"]] == ["restate"]
        assert list(view["brokers"].values()) == [f"127.0.0.1:{get_settings().kafka_port}"]
        chaining = next(g for g in view["groups"] if g["topic"].endswith("requests.chaining"))
        assert len(chaining["members"]) == 1 and sorted(next(iter(chaining["members"].values()))) == [0, 1, 2, 3]


def test_a_stack_that_is_down_is_reported_degraded():
    proc = agentpipe(
        "cluster",
        "--json",
        "--timeout",
        "1",
        env={
            "AGENTPIPE_KAFKA_BOOTSTRAP": "127.0.0.1:1",
            "AGENTPIPE_RESTATE_ADMIN_URL": "http://127.0.0.1:1",
            "AGENTPIPE_RESTATE_INGRESS_URL": "http://127.0.0.1:1",
            "AGENTPIPE_CLIENT_BROKER_TIMEOUT_S": "1",
        },
    )
    assert proc.returncode == 1, proc.stderr
    [view] = json_lines(proc.stdout)
    assert view["healthy"] is False and view["nodes"][0]["admin_ok"] is False
    assert view["problems"] and "no broker answered" in view["problems"][0]
