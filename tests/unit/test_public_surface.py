"""The public HTTP surface is an allow-list: the ten pattern entry points and Chat's reader, nothing else.

Read from the discovery manifest the deployments give restate-server (tests/security/test_http_surface.py
reads what the running server made of it).
"""

from __future__ import annotations

from restate.discovery import compute_discovery
from restate.endpoint import Endpoint

from handlers.app import services
from handlers.catalog import PATTERNS
from handlers.remote_agents.app import SERVICES as REMOTE_SERVICES

PUBLIC = {(p.service, p.handler) for p in PATTERNS.values()} | {("Chat", "history")}


def public_handlers(*groups: list) -> set[tuple[str, str]]:
    endpoint = Endpoint()
    for group in groups:
        endpoint.bind(*group)
    manifest = compute_discovery(endpoint, "bidi")
    return {
        (service.name, handler.name)
        for service in manifest.services
        for handler in service.handlers
        if not (service.ingressPrivate or handler.ingressPrivate)
    }


def test_only_the_allow_list_is_public():
    assert public_handlers(services(), REMOTE_SERVICES) == PUBLIC
    assert len(PUBLIC) == 11
