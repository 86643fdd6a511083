"""ASGI app of the remote-agents deployment."""

import restate

from handlers.remote_agents.specialists import SERVICES

app = restate.app(services=SERVICES)
