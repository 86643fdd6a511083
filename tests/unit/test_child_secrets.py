"""Secrets reach only the processes that use them (stack/components.py child_env)."""

from __future__ import annotations

import secrets

import pytest

from agentpipe.settings import Settings
from stack.cluster import cluster_components
from stack.components import SECRET_ENV, child_env, single_node_components

APPROVAL = "AGENTPIPE_APPROVAL_KEY"
API = "OPENAI_API_KEY"


@pytest.fixture
def secret_environment(monkeypatch):
    monkeypatch.setenv(APPROVAL, secrets.token_hex(32))
    monkeypatch.setenv(API, "sk-test-secret")
    monkeypatch.setenv("AGENTPIPE_SOMETHING_ELSE", "kept")


@pytest.mark.parametrize("topology", ["single", "cluster"])
def test_only_the_services_that_use_a_secret_get_it(secret_environment, tmp_path, topology):
    settings = Settings(state_dir=tmp_path, topology=topology)
    build = single_node_components if topology == "single" else cluster_components
    seen = {c.name: child_env(c) for c in build(settings, tmp_path)}
    for name, env in seen.items():
        assert env["AGENTPIPE_SOMETHING_ELSE"] == "kept"
        has = {k for k in SECRET_ENV if k in env}
        if name.startswith("agent-service"):
            assert has == {APPROVAL, API}, name
        elif name == "topic-gate":  # it refuses unsigned decisions before Restate sees them
            assert has == {APPROVAL}, name
        elif name == "remote-agents":
            assert has == {API}, name
        else:  # Kafka, restate-server, nginx, the offline model
            assert not has, name
    assert any(n.startswith("agent-service") for n in seen) and "remote-agents" in seen
