"""Restate's admin API in process, as far as subscriptions/restate_admin.py uses it.

It keeps subscriptions, deployments and Kafka clusters, and answers with the status codes
and body shapes that restate-server 1.7.12 gave when recorded (restate-1.7-admin.json,
from a local stack). Mounted with httpx's MockTransport; a request it does not know
fails the test.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from pathlib import Path

import httpx

from agentpipe.settings import get_settings

RECORDED: dict[str, dict] = json.loads(Path(__file__).with_name("restate-1.7-admin.json").read_text())
CREATED_AT = "2026-11-28T05:27:42.233000000Z"


def recorded(name: str) -> dict:
    """A recorded answer: {"status", "body", and "location" when there was one}."""
    return copy.deepcopy(RECORDED[name])


class FakeRestateAdmin:
    def __init__(
        self,
        subscriptions: list[dict] | None = None,
        deployments: list[dict] | None = None,
        clusters: list[dict] | None = None,
    ):
        self.subscriptions = {s["id"]: s for s in copy.deepcopy(subscriptions or [])}
        self.deployments = {d["id"]: d for d in copy.deepcopy(deployments or [])}
        self.clusters = {c["name"]: c for c in copy.deepcopy(clusters or [])}
        self.unfinished: dict[str, int] = {}  # deployment id -> invocations pinned to it, not completed
        self.unreachable: set[str] = set()  # deployment URIs that do not answer discovery
        self.vanishing: set[str] = set()  # subscriptions another caller removes just before a delete arrives
        # What discovery finds at a new URI: the services of the recorded registration.
        self.discovered = [s["name"] for s in recorded("register_new_deployment")["body"]["services"]]
        self.calls: list[tuple[str, str]] = []
        self._ids = itertools.count(1)

    # -- wiring ---------------------------------------------------------------------

    def client(self, timeout: float = 30.0) -> httpx.Client:
        """Stands in for subscriptions.restate_admin.admin_client."""
        return httpx.Client(
            base_url=get_settings().restate_admin_url, timeout=timeout, transport=httpx.MockTransport(self.handle)
        )

    def writes(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path in self.calls if method != "GET" and path != "/query"]

    def handle(self, request: httpx.Request) -> httpx.Response:
        admin = httpx.URL(get_settings().restate_admin_url)
        assert (request.url.host, request.url.port) == (admin.host, admin.port), request.url
        method, path = request.method, request.url.path
        self.calls.append((method, path))
        body = json.loads(request.content) if request.content else None
        for pattern, route in self.ROUTES:
            match = re.fullmatch(pattern, f"{method} {path}")
            if match:
                return route(self, request, body, *match.groups())
        raise AssertionError(f"the fake Restate admin API has no {method} {path}")

    # -- subscriptions ----------------------------------------------------------------

    def list_subscriptions(self, request, body) -> httpx.Response:
        return httpx.Response(200, json={"subscriptions": list(self.subscriptions.values())})

    def create_subscription(self, request, body) -> httpx.Response:
        answer = recorded("create_subscription")
        created = {
            "id": f"sub_fake{next(self._ids):019d}",
            "source": body["source"],
            "sink": body["sink"],
            # Restate adds the client id to the options it was given.
            "options": {**body["options"], "client.id": "restate"},
        }
        assert set(created) == set(answer["body"])
        self.subscriptions[created["id"]] = created
        return httpx.Response(answer["status"], json=created, headers={"location": f"subscriptions/{created['id']}"})

    def delete_subscription(self, request, body, subscription_id: str) -> httpx.Response:
        if subscription_id in self.vanishing:
            self.subscriptions.pop(subscription_id, None)
        if self.subscriptions.pop(subscription_id, None) is None:
            return self._not_found("delete_missing_subscription", "subscription", subscription_id)
        return httpx.Response(recorded("delete_subscription")["status"])

    # -- deployments --------------------------------------------------------------------

    def list_deployments(self, request, body) -> httpx.Response:
        return httpx.Response(200, json={"deployments": list(self.deployments.values())})

    def register_deployment(self, request, body) -> httpx.Response:
        uri = body["uri"]
        if uri in self.unreachable:
            answer = recorded("register_unreachable_deployment")
            answer["body"]["message"] = answer["body"]["message"].replace("http://127.0.0.1:1/rev-000000000000/", uri)
            return httpx.Response(answer["status"], json=answer["body"])
        known = next((d for d in self.deployments.values() if d["uri"] == uri), None)
        answer = recorded("register_known_deployment" if known else "register_new_deployment")
        if known is None:
            revisions = [
                s["revision"] for d in self.deployments.values() for s in d["services"] if s["name"] in self.discovered
            ]
            known = {
                "id": f"dp_fake{next(self._ids):019d}",
                "uri": uri,
                "protocol_type": "BidiStream",
                "http_version": "HTTP/2.0",
                "created_at": CREATED_AT,
                "min_protocol_version": 5,
                "max_protocol_version": 7,
                "sdk_version": "restate-sdk-python/1.3.0",
                "services": [{"name": name, "revision": max(revisions, default=0) + 1} for name in self.discovered],
            }
            self.deployments[known["id"]] = known
        template = answer["body"]["services"][0]
        services = [
            {**template, "name": s["name"], "revision": s["revision"], "deployment_id": known["id"]}
            for s in known["services"]
        ]
        return httpx.Response(
            answer["status"],
            json={**answer["body"], "id": known["id"], "services": services},
            headers={"location": f"deployments/{known['id']}"},
        )

    def delete_deployment(self, request, body, deployment_id: str) -> httpx.Response:
        assert request.url.params.get("force") == "true", "Restate 1.7 removes a deployment only with force=true"
        if self.deployments.pop(deployment_id, None) is None:
            return self._not_found("delete_missing_deployment", "deployment", deployment_id)
        return httpx.Response(recorded("delete_deployment")["status"])

    def query(self, request, body) -> httpx.Response:
        assert request.headers["accept"] == "application/json"
        listed = re.search(r"pinned_deployment_id IN \(([^)]*)\) AND status != 'completed'", body["query"])
        assert listed, f"the fake answers only the unfinished-invocations count: {body['query']}"
        ids = re.findall(r"'([^']*)'", listed.group(1))
        answer = recorded("count_invocations")
        return httpx.Response(answer["status"], json={"rows": [{"n": sum(self.unfinished.get(i, 0) for i in ids)}]})

    # -- Kafka clusters -------------------------------------------------------------------

    def get_cluster(self, request, body, name: str) -> httpx.Response:
        if name not in self.clusters:
            answer = recorded("get_missing_kafka_cluster")
            message = answer["body"]["message"].replace("'nope'", f"'{name}'")
            return httpx.Response(answer["status"], json={**answer["body"], "message": message})
        return httpx.Response(200, json={**self.clusters[name], "subscriptions": []})

    def create_cluster(self, request, body) -> httpx.Response:
        assert body["name"] not in self.clusters
        self.clusters[body["name"]] = {"name": body["name"], "properties": body["properties"], "created_at": CREATED_AT}
        return httpx.Response(
            recorded("create_kafka_cluster")["status"],
            json=self.clusters[body["name"]],
            headers={"location": f"kafka-clusters/{body['name']}"},
        )

    def update_cluster(self, request, body, name: str) -> httpx.Response:
        self.clusters[name]["properties"] = body["properties"]
        return httpx.Response(recorded("update_kafka_cluster")["status"], json=self.clusters[name])

    def _not_found(self, recording: str, kind: str, ident: str) -> httpx.Response:
        answer = recorded(recording)
        message = re.sub(r"id '[^']*'", f"id '{ident}'", answer["body"]["message"])
        assert kind in message
        return httpx.Response(answer["status"], json={**answer["body"], "message": message})

    ROUTES = (
        (r"GET /subscriptions", list_subscriptions),
        (r"POST /subscriptions", create_subscription),
        (r"DELETE /subscriptions/([^/]+)", delete_subscription),
        (r"GET /deployments", list_deployments),
        (r"POST /deployments", register_deployment),
        (r"DELETE /deployments/([^/]+)", delete_deployment),
        (r"POST /query", query),
        (r"GET /kafka-clusters/([^/]+)", get_cluster),
        (r"POST /kafka-clusters", create_cluster),
        (r"PATCH /kafka-clusters/([^/]+)", update_cluster),
    )
