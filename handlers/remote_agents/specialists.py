"""BillingAgent, AccountAgent and ProductAgent: specialists called by durable RPC.

RemoteAgentRouterService → (Restate) → <Specialist>Agent/run → LLM step → answer
"""

from __future__ import annotations

import restate
from restate import TerminalError

from agentpipe import vocabulary
from agentpipe.logs import bind_request
from handlers import prompts
from handlers.budgeted_calls import CallFlow, settle
from handlers.policies import invocation_retry_policy, waiting_inactivity_timeout
from handlers.remote_agent_routing import PATTERN as REMOTE_ROUTING
from handlers.routing import SpecialistAnswer, SpecialistQuestion, specialist_service
from handlers.runtime import PatternRun


def _specialist(route: str) -> restate.Service:
    # Private: only the remote-agent router calls a specialist (with a model and temperature it checked).
    service = restate.Service(
        specialist_service(route), ingress_private=True, invocation_retry_policy=invocation_retry_policy()
    )

    # Its LLM call may wait for the model's budget: suspended, it holds no invoker slot.
    @service.handler(inactivity_timeout=waiting_inactivity_timeout())
    async def run(ctx: restate.Context, question: SpecialistQuestion) -> SpecialistAnswer:
        bind_request(ctx.request().id, question.request_id, REMOTE_ROUTING.name)
        agent = PatternRun(
            ctx,
            REMOTE_ROUTING.name,
            question.request_id,
            question,
            model=question.model,
            temperature=question.temperature,
            flow=CallFlow(question.priority, question.deadline_s),
        )
        try:
            answer = await agent.ask(f"{route.capitalize()} specialist", prompts.SPECIALISTS[route], question.question)
        except TerminalError:
            settle(ctx, agent.flow)  # not in a finally: a suspension passes through here too
            raise
        settle(ctx, agent.flow)
        return SpecialistAnswer(answer=answer, usage=agent.usage)

    return service


SERVICES = [_specialist(route) for route in vocabulary.ROUTES]
