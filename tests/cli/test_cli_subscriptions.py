"""`agentpipe subscriptions list | sync` against the running Restate."""

from __future__ import annotations

from subscriptions.desired import desired_subscriptions
from tests.cli.cli_run import agentpipe, json_lines


def test_list_shows_the_declared_subscriptions(stack):
    proc = agentpipe("subscriptions", "list")
    assert proc.returncode == 0, proc.stderr
    listed = {(s["source"], s["sink"]) for s in json_lines(proc.stdout)}
    assert {(s.source, s.sink) for s in desired_subscriptions()} <= listed


def test_sync_of_a_synced_stack_changes_nothing(stack):
    proc = agentpipe("subscriptions", "sync")
    assert proc.returncode == 0, proc.stderr
    [report] = json_lines(proc.stdout)
    assert report["created"] == [] and report["removed"] == []
    assert len(report["unchanged"]) == len(desired_subscriptions())
