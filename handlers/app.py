"""The agent service's ASGI app: the intakes, the approval review and the ten pattern services.

Over Restate's HTTP ingress only the ten pattern handlers and Chat's read
handler are reachable; the intakes and everything that decides an approval are
private to Restate. The app itself answers only restate-server: every request
must carry a request identity signed with the stack's key.
"""

from __future__ import annotations

import restate

from agentpipe.settings import get_settings
from handlers.agent_routing import agent_router
from handlers.approvals import approval_intake, review
from handlers.chaining import call_chaining
from handlers.chat import chat
from handlers.evaluator_optimizer import evaluator_optimizer
from handlers.human_in_the_loop import human_in_the_loop
from handlers.intake import chat_intake, request_intake
from handlers.orchestrator import orchestrator
from handlers.parallel_agents import parallel_agents
from handlers.parallel_tools import parallel_tool_agent
from handlers.request_ids import request_ids
from handlers.remote_agent_routing import remote_agent_router
from handlers.tool_routing import tool_router

SERVICES = [
    request_intake,
    chat_intake,
    request_ids,
    approval_intake,
    review,
    call_chaining,
    tool_router,
    parallel_tool_agent,
    agent_router,
    remote_agent_router,
    parallel_agents,
    orchestrator,
    evaluator_optimizer,
    human_in_the_loop,
    chat,
]


def build_app():
    return restate.app(services=SERVICES, identity_keys=get_settings().request_identity_keys)
