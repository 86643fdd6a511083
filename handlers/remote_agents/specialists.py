"""BillingAgent, AccountAgent and ProductAgent: specialists called by durable RPC.

    RemoteAgentRouterService → (Restate) → <Specialist>Agent/run → LLM step → answer
"""

from __future__ import annotations

import restate
from pydantic import BaseModel

from agentpipe.logs import bind_request
from handlers import prompts
from handlers.policies import invocation_retry_policy
from handlers.runtime import PatternRun


class SpecialistQuestion(BaseModel):
    request_id: str
    question: str


def _specialist(route: str) -> restate.Service:
    service = restate.Service(f"{route.capitalize()}Agent", invocation_retry_policy=invocation_retry_policy())

    @service.handler()
    async def run(ctx: restate.Context, question: SpecialistQuestion) -> str:
        bind_request(ctx.request().id, question.request_id, "remote-agent-routing")
        agent = PatternRun(ctx, "remote-agent-routing", question.request_id)
        return await agent.ask(f"{route.capitalize()} specialist", prompts.SPECIALISTS[route], question.question)

    return service


SERVICES = [_specialist(route) for route in prompts.SPECIALISTS]
