"""Restate admin API: register the deployments and make subscriptions match topics.py.

Sync is declarative: missing subscriptions are created, stale ones (ours, not in
the map) removed, matching ones left alone, so running it twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from agentpipe.settings import get_settings
from subscriptions.topics import Subscription, desired_subscriptions

# librdkafka options for every subscription: start from the beginning of a new topic.
SUBSCRIPTION_OPTIONS = {"auto.offset.reset": "earliest"}


class AdminApiError(Exception):
    pass


def admin_client(timeout: float = 30.0) -> httpx.Client:
    return httpx.Client(base_url=get_settings().restate_admin_url, timeout=timeout)


def _check(response: httpx.Response, what: str) -> httpx.Response:
    if response.status_code >= 400:
        raise AdminApiError(f"{what}: HTTP {response.status_code}: {response.text[:300]}")
    return response


def register_deployment(uri: str) -> list[str]:
    """Register (or update) a deployment; returns the service names it offers.

    ``force`` makes Restate discover the endpoint again: without it, a URI that
    is already registered returns the old service list even after a code change.
    """
    with admin_client() as client:
        response = _check(client.post("/deployments", json={"uri": uri, "force": True}), f"registering {uri}")
        return [service["name"] for service in response.json()["services"]]


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
    wanted = {(s.source, s.sink) for s in desired}
    report = SyncReport([], [], [])
    with admin_client() as client:
        current = _check(client.get("/subscriptions"), "listing subscriptions").json()["subscriptions"]
        present = set()
        for sub in current:
            pair = (sub["source"], sub["sink"])
            if pair in wanted and pair not in present:
                present.add(pair)
                report.unchanged.append(f"{pair[0]} -> {pair[1]}")
            elif _ours(sub):
                _check(client.delete(f"/subscriptions/{sub['id']}"), f"removing {sub['id']}")
                report.removed.append(f"{pair[0]} -> {pair[1]}")
        for source, sink in sorted(wanted - present):
            _check(
                client.post("/subscriptions", json={"source": source, "sink": sink, "options": SUBSCRIPTION_OPTIONS}),
                f"creating {source} -> {sink}",
            )
            report.created.append(f"{source} -> {sink}")
    return report
