"""subscriptions/restate_admin.py against Restate 1.7's admin API, answered in process by a fake
that gives the recorded answers of a real restate-server (tests/unit/restate_admin_fake.py).

The module builds its clients with ``admin_client()``; the tests put the fake's client there.
"""

from __future__ import annotations

import json
import re

import pytest

from agentpipe.settings import get_settings
from subscriptions import restate_admin
from subscriptions.desired import desired_subscriptions
from subscriptions.restate_admin import (
    AdminApiError,
    DeploymentInUse,
    code_revision,
    ensure_kafka_cluster,
    register_deployment,
    register_deployments,
    revision_uri,
    subscription_options,
    sync_subscriptions,
)
from tests.unit.restate_admin_fake import FakeRestateAdmin, recorded

BASE = "http://127.0.0.1:9080"  # the agent service's default URL
OTHER_BASE = "http://127.0.0.1:9081"


@pytest.fixture
def mount(monkeypatch):
    def mounted(fake: FakeRestateAdmin) -> FakeRestateAdmin:
        monkeypatch.setattr(restate_admin, "admin_client", fake.client)
        return fake

    return mounted


def recorded_subscriptions() -> list[dict]:
    """The subscriptions of a running local stack (cluster "local", prefix "agent.", the defaults)."""
    return recorded("list_subscriptions")["body"]["subscriptions"]


def pair(subscription) -> str:
    return f"{subscription['source']} -> {subscription['sink']}"


def desired_pairs() -> list[str]:
    return sorted(f"{s.source} -> {s.sink}" for s in desired_subscriptions())


def subscription(ident: str, source: str, sink: str) -> dict:
    return {
        "id": ident,
        "source": source,
        "sink": sink,
        "options": {"auto.offset.reset": "earliest", "client.id": "restate"},
    }


def deployment(ident: str, uri: str, *services: str) -> dict:
    entry = recorded("list_deployments")["body"]["deployments"][0]
    return {**entry, "id": ident, "uri": uri, "services": [{"name": s, "revision": 1} for s in services]}


# -- subscription sync ------------------------------------------------------------------


def test_the_recorded_subscriptions_are_the_desired_ones():
    assert sorted(pair(s) for s in recorded_subscriptions()) == desired_pairs()


def test_sync_on_an_empty_restate_creates_every_subscription_with_its_options(mount):
    admin = mount(FakeRestateAdmin())
    report = sync_subscriptions()
    assert (sorted(report.created), report.removed, report.unchanged) == (desired_pairs(), [], [])
    assert admin.writes() == [("POST", "/subscriptions")] * len(desired_pairs())
    by_pair = {pair(s): s for s in admin.subscriptions.values()}
    for wanted in desired_subscriptions():
        created = by_pair[f"{wanted.source} -> {wanted.sink}"]
        assert created["options"] == {**subscription_options(wanted), "client.id": "restate"}
        assert created["options"]["group.id"] == wanted.group_id


def test_sync_leaves_the_subscriptions_of_a_running_stack_alone(mount):
    admin = mount(FakeRestateAdmin(subscriptions=recorded_subscriptions()))
    report = sync_subscriptions()
    assert (report.created, report.removed, sorted(report.unchanged)) == ([], [], desired_pairs())
    assert admin.writes() == []


def test_sync_twice_changes_nothing_the_second_time(mount):
    admin = mount(FakeRestateAdmin())
    sync_subscriptions()
    after_first = dict(admin.subscriptions)
    report = sync_subscriptions()
    assert (report.created, report.removed, len(report.unchanged)) == ([], [], len(desired_pairs()))
    assert admin.subscriptions == after_first


def test_sync_creates_the_missing_removes_stale_ours_and_keeps_others(mount):
    running = recorded_subscriptions()
    missing, *kept = running
    chat = next(s for s in kept if s["source"].endswith(".requests.chat.gated"))
    extra = [
        subscription("sub_retired", "kafka://local/agent.requests.retired-pattern", "service://RequestIntake/ingest"),
        subscription("sub_wrong_sink", chat["source"], "service://RequestIntake/ingest"),  # ours, sink changed
        {**kept[0], "id": "sub_duplicate"},  # a second subscription of a desired pair
        subscription("sub_other_prefix", "kafka://local/billing.events", "service://Billing/ingest"),
        subscription("sub_other_cluster", "kafka://elsewhere/agent.requests.chaining", "service://Audit/ingest"),
    ]
    admin = mount(FakeRestateAdmin(subscriptions=kept + extra))
    report = sync_subscriptions()

    assert report.created == [pair(missing)]
    assert sorted(report.removed) == sorted(pair(s) for s in extra[:3])
    assert sorted(report.unchanged) == sorted(pair(s) for s in kept)
    assert {"sub_other_prefix", "sub_other_cluster", kept[0]["id"]} <= set(admin.subscriptions)
    assert not {"sub_retired", "sub_wrong_sink", "sub_duplicate"} & set(admin.subscriptions)
    ours = [
        pair(s) for ident, s in admin.subscriptions.items() if ident not in ("sub_other_prefix", "sub_other_cluster")
    ]
    assert sorted(ours) == desired_pairs()


def test_what_is_ours_follows_the_settings(mount, monkeypatch):
    """Another topic prefix or cluster: the subscriptions of the defaults belong to someone else now."""
    monkeypatch.setenv("AGENTPIPE_TOPIC_PREFIX", "staging.")
    monkeypatch.setenv("AGENTPIPE_RESTATE_KAFKA_CLUSTER", "shared")
    get_settings.cache_clear()
    admin = mount(FakeRestateAdmin(subscriptions=recorded_subscriptions()))
    report = sync_subscriptions()
    assert report.removed == [] and len(report.created) == len(recorded_subscriptions())
    assert all(
        created.startswith("kafka://shared/staging.requests.") or created.startswith("kafka://shared/staging.approvals")
        for created in report.created
    )
    assert {s["id"] for s in recorded_subscriptions()} <= set(admin.subscriptions)


def test_an_admin_api_error_names_the_step_the_status_and_restates_answer(mount):
    stale = subscription("sub_gone", "kafka://local/agent.requests.retired-pattern", "service://RequestIntake/ingest")
    admin = mount(FakeRestateAdmin(subscriptions=[*recorded_subscriptions(), stale]))
    admin.vanishing.add("sub_gone")  # removed by someone else between the listing and the delete
    with pytest.raises(AdminApiError) as caught:
        sync_subscriptions()
    message = str(caught.value)
    assert message.startswith("removing sub_gone: HTTP 404: ")
    assert "subscription with id 'sub_gone'" in message


def test_an_explicit_list_of_desired_subscriptions_is_synced(mount):
    only_chaining = [s for s in desired_subscriptions() if s.topic.endswith(".chaining")]
    admin = mount(FakeRestateAdmin(subscriptions=recorded_subscriptions()))
    report = sync_subscriptions(only_chaining)
    assert report.unchanged == [f"{only_chaining[0].source} -> {only_chaining[0].sink}"]
    assert len(report.removed) == len(recorded_subscriptions()) - 1 and report.created == []
    assert len(admin.subscriptions) == 1


# -- deployments: one per code revision ----------------------------------------------------


def test_revision_uris():
    assert revision_uri(BASE, "rev-0123456789ab") == f"{BASE}/rev-0123456789ab/"
    assert revision_uri(BASE + "/", "rev-0123456789ab") == f"{BASE}/rev-0123456789ab/"
    assert re.fullmatch(r"rev-[0-9a-f]{12}", code_revision())
    assert code_revision() == code_revision()
    assert revision_uri(BASE) == f"{BASE}/{code_revision()}/"


def test_the_first_registration_registers_the_revision(mount):
    admin = mount(FakeRestateAdmin())
    services = register_deployment(BASE, revision="rev-000000000001")
    assert services == admin.discovered
    assert admin.writes() == [("POST", "/deployments")]
    assert [d["uri"] for d in admin.deployments.values()] == [f"{BASE}/rev-000000000001/"]


def test_the_recorded_deployment_registered_again_changes_nothing(mount):
    running = recorded("list_deployments")["body"]["deployments"]
    remote = next(d for d in running if d["uri"].endswith(":22081/rev-3e04d18fff9f/"))
    admin = mount(FakeRestateAdmin(deployments=running))
    services = register_deployment("http://127.0.0.1:22081", revision="rev-3e04d18fff9f")
    assert services == [s["name"] for s in remote["services"]]
    assert admin.writes() == [("POST", "/deployments")]  # Restate answers 200 with the known deployment
    assert list(admin.deployments.values()) == running


def test_new_code_is_registered_first_then_the_idle_older_revision_removed(mount):
    older = deployment("dp_older", f"{BASE}/rev-000000000001/", "CallChainingService")
    admin = mount(FakeRestateAdmin(deployments=[older]))
    register_deployment(BASE, revision="rev-000000000002")
    assert admin.writes() == [("POST", "/deployments"), ("DELETE", "/deployments/dp_older")]
    assert [d["uri"] for d in admin.deployments.values()] == [f"{BASE}/rev-000000000002/"]


def test_an_unversioned_registration_of_the_same_url_counts_as_older(mount):
    admin = mount(FakeRestateAdmin(deployments=[deployment("dp_bare", f"{BASE}/", "CallChainingService")]))
    register_deployment(BASE, revision="rev-000000000002")
    assert ("DELETE", "/deployments/dp_bare") in admin.writes()


def test_new_code_is_refused_while_invocations_run_on_an_older_revision(mount):
    admin = mount(
        FakeRestateAdmin(
            deployments=[
                deployment("dp_idle", f"{BASE}/rev-000000000001/", "CallChainingService"),
                deployment("dp_busy", f"{BASE}/rev-000000000002/", "CallChainingService"),
            ]
        )
    )
    admin.unfinished["dp_busy"] = 3
    with pytest.raises(DeploymentInUse, match=r"changed while 3 invocation\(s\) still run on an older revision"):
        register_deployment(BASE, revision="rev-000000000003")
    assert admin.writes() == []  # nothing registered, nothing removed
    assert ("POST", "/query") in admin.calls


def test_deployments_of_other_urls_are_left_alone(mount):
    others = [
        deployment("dp_other_port", f"{OTHER_BASE}/rev-000000000001/", "BillingAgent"),
        deployment("dp_port_prefix", "http://127.0.0.1:90801/rev-000000000001/", "Elsewhere"),
        deployment("dp_nested", f"{BASE}/tenant/rev-000000000001/", "Nested"),
    ]
    admin = mount(FakeRestateAdmin(deployments=others))
    admin.unfinished = {d["id"]: 5 for d in others}  # busy, but not ours to wait for
    register_deployment(BASE, revision="rev-000000000002")
    assert admin.writes() == [("POST", "/deployments")]
    assert {d["id"] for d in others} <= set(admin.deployments)
    assert ("POST", "/query") not in admin.calls  # no older revision of ours: nothing to count


def test_a_deployment_restate_cannot_reach_is_an_admin_api_error(mount):
    admin = mount(FakeRestateAdmin())
    admin.unreachable.add(f"{BASE}/rev-000000000001/")
    with pytest.raises(AdminApiError) as caught:
        register_deployment(BASE, revision="rev-000000000001")
    message = str(caught.value)
    assert message.startswith(f"registering {BASE}/rev-000000000001/: HTTP 500: ")
    assert "META0003" in message and "Connection refused" in message


def test_register_deployments_registers_the_agent_service_and_the_remote_agents(mount):
    admin = mount(FakeRestateAdmin())
    registered = register_deployments()
    settings = get_settings()
    assert set(registered) == {settings.agent_service_url, settings.remote_agents_url}
    assert sorted(d["uri"] for d in admin.deployments.values()) == sorted(
        revision_uri(url) for url in (settings.agent_service_url, settings.remote_agents_url)
    )


# -- the Kafka cluster Restate reads from ---------------------------------------------------


def test_a_missing_kafka_cluster_is_registered_with_the_broker_address(mount):
    admin = mount(FakeRestateAdmin())
    assert ensure_kafka_cluster() == "local"
    assert admin.writes() == [("POST", "/kafka-clusters")]
    assert admin.clusters["local"]["properties"] == {"bootstrap.servers": get_settings().kafka_bootstrap}


def test_a_registered_kafka_cluster_is_updated_with_the_security_options(mount, monkeypatch):
    options = {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": "svc"}
    monkeypatch.setenv("AGENTPIPE_KAFKA_OPTIONS", json.dumps(options))
    get_settings.cache_clear()
    admin = mount(FakeRestateAdmin(clusters=[recorded("get_kafka_cluster")["body"]]))
    assert ensure_kafka_cluster() == "local"
    assert admin.writes() == [("PATCH", "/kafka-clusters/local")]
    assert admin.clusters["local"]["properties"] == {"bootstrap.servers": get_settings().kafka_bootstrap, **options}
