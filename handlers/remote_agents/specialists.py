"""BillingAgent, AccountAgent and ProductAgent: specialists called by durable RPC.

RemoteAgentRouterService → (Restate) → <Specialist>Agent/run → LLM step → answer
"""

from __future__ import annotations

import restate

from agentpipe import vocabulary
from agentpipe.logs import bind_request
from handlers import prompts
from handlers.policies import invocation_retry_policy
from handlers.remote_agent_routing import PATTERN as REMOTE_ROUTING
from handlers.routing import SpecialistAnswer, SpecialistQuestion, specialist_service
from handlers.runtime import PatternRun


def _specialist(route: str) -> restate.Service:
    service = restate.Service(specialist_service(route), invocation_retry_policy=invocation_retry_policy())

    @service.handler()
    async def run(ctx: restate.Context, question: SpecialistQuestion) -> SpecialistAnswer:
        bind_request(ctx.request().id, question.request_id, REMOTE_ROUTING.name)
        agent = PatternRun(
            ctx,
            REMOTE_ROUTING.name,
            question.request_id,
            question,
            model=question.model,
            temperature=question.temperature,
        )
        answer = await agent.ask(f"{route.capitalize()} specialist", prompts.SPECIALISTS[route], question.question)
        return SpecialistAnswer(answer=answer, usage=agent.usage)

    return service


SERVICES = [_specialist(route) for route in vocabulary.ROUTES]
