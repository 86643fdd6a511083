"""Remote agent routing: like agent routing, but the specialists are services of another deployment.

    Question → Classify → durable RPC to BillingAgent | AccountAgent | ProductAgent (port 9081) → Answer

The RPC goes through Restate, so it survives restarts of either deployment.
"""

from __future__ import annotations

from agentpipe.patterns import PATTERNS
from agentpipe.requests import RoutingRequest
from handlers.pattern import Pattern
from handlers.routing import SpecialistAnswer, SpecialistQuestion, classify, specialist_service
from handlers.runtime import Outcome, PatternRun


async def call_remote_specialist(run: PatternRun[RoutingRequest], request: RoutingRequest) -> Outcome:
    route = await classify(run, request.message)
    question = SpecialistQuestion(
        request_id=run.request_id,
        question=request.message,
        model=request.model,
        temperature=request.temperature,
        priority=run.flow.priority,
        deadline_s=request.deadline_s,
    )
    # Called by name: the specialists live in the other deployment, not in this process.
    answer = await run.ctx.generic_call(specialist_service(route), "run", question.model_dump_json().encode())
    reply = SpecialistAnswer.model_validate_json(answer)
    run.usage = run.usage.plus(reply.usage)
    return Outcome(output=reply.answer, route=route)


PATTERN = Pattern(PATTERNS["remote-agent-routing"], work=call_remote_specialist)
