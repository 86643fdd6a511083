"""``python -m stack.init``: make a running stack usable once Kafka and Restate answer.

Creates the topics of subscriptions/desired.py, registers both deployments with
Restate and syncs the subscriptions. Every step is idempotent and is retried
until it succeeds or ``--timeout`` runs out, so this can start together with the
rest of the stack (compose.yaml's ``init`` service) and can be run again at any
time. Addresses come from the settings (AGENTPIPE_KAFKA_BOOTSTRAP,
AGENTPIPE_RESTATE_ADMIN_URL, AGENTPIPE_AGENT_SERVICE_URL, AGENTPIPE_REMOTE_AGENTS_URL).

Exit code 0 when done; 1 with a one-line cause naming the component otherwise.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from agentpipe.kafka_config import client_config
from agentpipe.settings import CLUSTER_SIZE, Settings, get_settings
from stack.errors import InitError
from stack.installs import restatectl_binary
from subscriptions.kafka_topics import ensure_topics
from subscriptions.restate_admin import (
    AdminApiError,
    DeploymentInUse,
    SyncReport,
    ensure_kafka_cluster,
    register_deployment,
    sync_subscriptions,
)

T = TypeVar("T")

# What "not answering yet" looks like: connection refused, unknown host (the name of a
# container that is not up), a topic without a leader yet, Restate not reaching a deployment.
NOT_READY = (KafkaException, AdminApiError, httpx.HTTPError, OSError, subprocess.TimeoutExpired)

MAX_DELAY_S = 5.0


@dataclass
class InitReport:
    created_topics: list[str]
    deployments: dict[str, list[str]]
    subscriptions: SyncReport
    seconds: float


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


def _retry(component: str, step: str, action: Callable[[float], T], deadline: float, say: Callable[[str], None]) -> T:
    """Run ``action(seconds_left)`` until it stops raising NOT_READY errors or the deadline passes."""
    delay, attempt = 0.5, 0
    while True:
        attempt += 1
        try:
            return action(max(deadline - time.monotonic(), 1.0))
        except NOT_READY as exc:
            cause = _one_line(exc)
            if time.monotonic() + delay >= deadline:
                raise InitError(component, f"{step} failed after {attempt} attempt(s): {cause}") from None
            if attempt == 1 or attempt % 5 == 0:
                say(f"waiting for {component} ({step}): {cause}")
            time.sleep(delay)
            delay = min(delay * 2, MAX_DELAY_S)


def _kafka_answers(bootstrap: str, seconds_left: float) -> None:
    # log_level 0: librdkafka would otherwise print a line per refused connection while we wait.
    AdminClient(client_config(**{"bootstrap.servers": bootstrap, "log_level": 0})).list_topics(
        timeout=min(seconds_left, 5.0)
    )


def _healthy(url: str, seconds_left: float) -> None:
    """A health endpoint of Restate (admin ``/health``, ingress ``/restate/health``) answers 200."""
    response = httpx.get(url, timeout=min(seconds_left, 5.0))
    if response.status_code != 200:
        raise AdminApiError(f"GET {url}: HTTP {response.status_code}")


def _provision(settings: Settings, seconds_left: float) -> str:
    """Provision the Restate cluster once (all nodes run with auto-provision off); a provisioned one is left."""
    restatectl = restatectl_binary(settings.state_dir / "logs")
    nodes = ",".join(f"http://127.0.0.1:{settings.restate_ports(i)[2]}/" for i in range(CLUSTER_SIZE))
    done = subprocess.run(
        [str(restatectl), "provision", "--address", nodes, "--yes"],
        capture_output=True,
        text=True,
        timeout=min(seconds_left, 60.0),
    )
    answer = " ".join((done.stdout + done.stderr).split())
    if done.returncode == 0:
        return "provisioned"
    if "already provisioned" in answer.lower():
        return "already provisioned"
    raise AdminApiError(f"restatectl provision: {answer[-300:]}")


def _cluster_answers(settings: Settings, deadline: float, say: Callable[[str], None]) -> None:
    """Provision, then wait until every node's admin API and ingress answer."""
    outcome = _retry("restate", "provisioning the cluster", lambda left: _provision(settings, left), deadline, say)
    say(f"restate: cluster {outcome}")
    for i in range(CLUSTER_SIZE):
        ingress, admin, _node = settings.restate_ports(i)
        for url in (f"http://127.0.0.1:{admin}/health", f"http://127.0.0.1:{ingress}/restate/health"):
            _retry("restate", f"node {i + 1} answering at {url}", _answering(url), deadline, say)


def _answering(url: str) -> Callable[[float], None]:
    return lambda left: _healthy(url, left)


def _registering(uri: str) -> Callable[[float], list[str]]:
    """The step that registers the deployment at ``uri`` (its own function: one per loop turn)."""
    return lambda _left: register_deployment(uri)


def initialize(timeout: float = 120.0, say: Callable[[str], None] = lambda _msg: None) -> InitReport:
    """Topics, deployments, subscriptions; raises InitError when one step keeps failing."""
    settings = get_settings()
    started = time.monotonic()
    deadline = started + timeout
    _retry(
        "kafka",
        f"connecting to {settings.kafka_bootstrap}",
        lambda left: _kafka_answers(settings.kafka_bootstrap, left),
        deadline,
        say,
    )
    created = _retry("kafka", "creating topics", lambda left: ensure_topics(timeout=min(left, 30.0)), deadline, say)
    say(f"kafka: {len(created)} topic(s) created")
    if settings.topology == "cluster" and settings.cluster_provisioning == "restatectl":
        _cluster_answers(settings, deadline, say)
    _retry(
        "restate",
        f"connecting to {settings.restate_admin_url}",
        lambda left: _healthy(f"{settings.restate_admin_url}/health", left),
        deadline,
        say,
    )
    deployments: dict[str, list[str]] = {}
    for uri in (settings.agent_service_url, settings.remote_agents_url):
        # One step per deployment, so a cause names the one Restate cannot reach.
        try:
            deployments[uri] = _retry("restate", f"registering {uri}", _registering(uri), deadline, say)
        except DeploymentInUse as exc:
            raise InitError("restate", str(exc)) from None
        say(f"restate: registered {uri} ({len(deployments[uri])} services)")
    cluster = _retry("restate", "registering the Kafka cluster", lambda _left: ensure_kafka_cluster(), deadline, say)
    say(f"restate: Kafka cluster {cluster!r} at {settings.kafka_bootstrap}")
    report = _retry("restate", "syncing subscriptions", lambda _left: sync_subscriptions(), deadline, say)
    say(f"restate: subscriptions +{len(report.created)} -{len(report.removed)} ={len(report.unchanged)}")
    return InitReport(created, deployments, report, time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stack.init",
        description="Create topics, register deployments and sync subscriptions, retrying until the stack answers.",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="give up after this many seconds (120)")
    args = parser.parse_args(argv)

    def say(message: str) -> None:
        print(f"init: {message}", flush=True)

    try:
        report = initialize(args.timeout, say)
    except InitError as exc:
        print(f"init: error: {exc}", file=sys.stderr, flush=True)
        return 1
    say(f"done in {report.seconds:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
