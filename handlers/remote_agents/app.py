"""ASGI app of the remote-agents deployment; only restate-server (request identity) may call it."""

import restate
from restate.server_types import RestateAppT

from agentpipe.settings import get_settings
from handlers.remote_agents.specialists import SERVICES


def build_app() -> RestateAppT:
    return restate.app(services=SERVICES, identity_keys=get_settings().request_identity_keys)
