"""The agent service's ASGI app: the intakes, the approval gate and the ten pattern services."""

from __future__ import annotations

import restate

from handlers.agent_routing import agent_router
from handlers.approvals import approval_gate, approval_intake
from handlers.chaining import call_chaining
from handlers.chat import chat
from handlers.evaluator_optimizer import evaluator_optimizer
from handlers.human_in_the_loop import human_in_the_loop
from handlers.intake import chat_intake, request_intake
from handlers.orchestrator import orchestrator
from handlers.parallel_agents import parallel_agents
from handlers.parallel_tools import parallel_tool_agent
from handlers.remote_agent_routing import remote_agent_router
from handlers.tool_routing import tool_router

SERVICES = [
    request_intake,
    chat_intake,
    approval_intake,
    approval_gate,
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

app = restate.app(services=SERVICES)
