"""Restate admin API: register the deployments and make subscriptions match topics.py.

Sync is declarative: missing subscriptions are created, stale ones (ours, not in
the map) removed, matching ones left alone, so running it twice changes nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from agentpipe.kafka_config import client_config
from agentpipe.settings import get_settings
from subscriptions.desired import Subscription, desired_subscriptions


def subscription_options(subscription: Subscription) -> dict[str, str]:
    """librdkafka options of a subscription: start a new topic from its beginning, in our named group,
    committing every second (so the backlog `agentpipe status` shows is fresh), and reading only
    committed records (the gate copies records in transactions). Every Restate worker node consumes in
    that group; a node that dies holds its partitions until the group notices (session timeout), so
    the timeout is 10 s rather than librdkafka's 45 s."""
    return {
        "auto.offset.reset": "earliest",
        "group.id": subscription.group_id,
        "auto.commit.interval.ms": "1000",
        "session.timeout.ms": "10000",
        "heartbeat.interval.ms": "3000",
        "isolation.level": "read_committed",
    }


class AdminApiError(Exception):
    pass


class DeploymentInUse(Exception):
    """New code at a registered URL while invocations still run on the old code: waiting will not fix it."""


def admin_client(timeout: float = 30.0) -> httpx.Client:
    return httpx.Client(base_url=get_settings().restate_admin_url, timeout=timeout)


def _check(response: httpx.Response, what: str) -> httpx.Response:
    if response.status_code >= 400:
        raise AdminApiError(f"{what}: HTTP {response.status_code}: {response.text[:300]}")
    return response


def code_revision() -> str:
    """A fingerprint of the code the deployments run (the packages they import)."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for package in ("agentpipe", "handlers", "subscriptions"):
        for path in sorted((root / package).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return f"rev-{digest.hexdigest()[:12]}"


def revision_uri(base_url: str, revision: str | None = None) -> str:
    """Where Restate reaches one code revision of a deployment: the SDK serves any path prefix."""
    return f"{base_url.rstrip('/')}/{revision or code_revision()}/"


def register_deployment(base_url: str, revision: str | None = None) -> list[str]:
    """Register the running code as a deployment revision of ``base_url``; returns its service names.

    Each code revision is its own deployment (``<base_url>/rev-<hash>/``), so changed code
    is never swapped under invocations that started on other code: Restate keeps those
    pinned to their revision. Registering the same revision again changes nothing. Here
    one process serves ``base_url``, so once the code changed the old revisions' code is
    gone: they are removed when nothing runs on them, and registering is refused while
    something does (serve the new version at a new URL instead; docs/operations.md).
    """
    uri = revision_uri(base_url, revision)
    with admin_client() as client:
        deployments = _check(client.get("/deployments"), "listing deployments").json()["deployments"]
        base = base_url.rstrip("/")
        older = [
            d
            for d in deployments
            if _same_base(d.get("uri", ""), base) and d.get("uri", "").rstrip("/") != uri.rstrip("/")
        ]
        busy = unfinished_invocations(client, [d["id"] for d in older])
        if busy:
            raise DeploymentInUse(
                f"the code behind {base_url} changed while {busy} invocation(s) still run on an older revision; "
                "let them finish, or serve the new version at a new URL and register that "
                "(see docs/operations.md, upgrades)"
            )
        response = _check(client.post("/deployments", json={"uri": uri}), f"registering {uri}")
        for old in older:
            _check(client.delete(f"/deployments/{old['id']}", params={"force": "true"}), f"removing {old['uri']}")
        return [service["name"] for service in response.json()["services"]]


def _same_base(uri: str, base: str) -> bool:
    uri = uri.rstrip("/")
    return uri == base or (uri.startswith(base + "/") and "/" not in uri[len(base) + 1 :])


def sql_rows(client: httpx.Client, sql: str, what: str = "query failed") -> list[dict[str, Any]]:
    """Rows of a SQL query against Restate's introspection tables: column name -> JSON value."""
    response = _check(client.post("/query", json={"query": sql}, headers={"accept": "application/json"}), what)
    try:
        rows = response.json()["rows"]
    except (ValueError, KeyError, TypeError):
        raise AdminApiError(f"{what}: the answer held no rows") from None
    return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []


def unfinished_invocations(client: httpx.Client, deployment_ids: list[str]) -> int:
    """How many invocations that are not completed are pinned to these deployments."""
    if not deployment_ids:
        return 0
    listed = ", ".join(f"'{i}'" for i in deployment_ids)
    rows = sql_rows(
        client,
        f"SELECT count(*) AS n FROM sys_invocation WHERE pinned_deployment_id IN ({listed}) AND status != 'completed'",
        "counting invocations",
    )
    return int(rows[0]["n"]) if rows else 0


def ensure_kafka_cluster() -> str:
    """Register (or update) the Kafka cluster Restate's subscriptions read from; returns its name.

    Through the admin API, once for the whole Restate cluster, with the librdkafka options
    of the settings passed through (security.protocol, sasl.*, ssl.*).
    """
    settings = get_settings()
    name = settings.restate_kafka_cluster
    properties = client_config()
    with admin_client() as client:
        existing = client.get(f"/kafka-clusters/{name}")
        if existing.status_code == 404:
            _check(
                client.post("/kafka-clusters", json={"name": name, "properties": properties}),
                f"registering Kafka cluster {name}",
            )
        else:
            _check(existing, f"reading Kafka cluster {name}")
            _check(
                client.patch(f"/kafka-clusters/{name}", json={"properties": properties}),
                f"updating Kafka cluster {name}",
            )
    return name


def register_deployments() -> dict[str, list[str]]:
    settings = get_settings()
    return {uri: register_deployment(uri) for uri in (settings.agent_service_url, settings.remote_agents_url)}


@dataclass
class SyncReport:
    created: list[str]
    removed: list[str]
    unchanged: list[str]


def list_subscriptions() -> list[dict]:
    with admin_client() as client:
        return _check(client.get("/subscriptions"), "listing subscriptions").json()["subscriptions"]


def _ours(subscription: dict) -> bool:
    """Subscriptions on our topics; others on the same Restate are not ours to remove."""
    prefix = f"kafka://{get_settings().restate_kafka_cluster}/{get_settings().topic_prefix}"
    return subscription["source"].startswith(prefix)


def sync_subscriptions(desired: list[Subscription] | None = None) -> SyncReport:
    desired = desired if desired is not None else desired_subscriptions()
    wanted = {(s.source, s.sink): s for s in desired}
    report = SyncReport([], [], [])
    with admin_client() as client:
        current = list_subscriptions_with(client)
        present = set()
        for sub in current:
            pair = (sub["source"], sub["sink"])
            if pair in wanted and pair not in present:
                present.add(pair)
                report.unchanged.append(f"{pair[0]} -> {pair[1]}")
            elif _ours(sub):
                _check(client.delete(f"/subscriptions/{sub['id']}"), f"removing {sub['id']}")
                report.removed.append(f"{pair[0]} -> {pair[1]}")
        for pair in sorted(set(wanted) - present):
            create_subscription(client, *pair, subscription_options(wanted[pair]))
            report.created.append(f"{pair[0]} -> {pair[1]}")
    return report


def list_subscriptions_with(client: httpx.Client) -> list[dict]:
    return _check(client.get("/subscriptions"), "listing subscriptions").json()["subscriptions"]


def create_subscription(client: httpx.Client, source: str, sink: str, options: dict[str, str]) -> dict:
    return _check(
        client.post("/subscriptions", json={"source": source, "sink": sink, "options": options}),
        f"creating {source} -> {sink}",
    ).json()
