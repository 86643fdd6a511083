"""A pattern, declared once in its own module; the rest of agentpipe derives from the declaration.

    handlers/chaining.py:  PATTERN = Pattern(name="chaining", service="CallChainingService",
                                             handler="run", request=ChainingRequest, work=chain)

From it come the pattern's topics (agentpipe/topics.py), its subscription
(subscriptions/desired.py), the request model the intake validates against, the
Restate service the agent service serves (``component``) and the CLI's choices.
A declaration is plain data: importing it reads no settings and starts nothing,
so the CLI can import every pattern without the cost of a service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, cast

import restate
from restate.serde import BytesSerde

from agentpipe.messages import AgentResult
from handlers.http_entry import claim_over_http
from handlers.policies import invocation_retry_policy, waiting_inactivity_timeout
from handlers.runtime import R, Work, request_flow, run_pattern

# The private handler of every pattern service that Kafka subscriptions deliver raw records to.
INGEST_HANDLER = "ingest"
# The private handler of a keyed pattern's object that forgets one request id's claim a day after it.
FORGET_CLAIM_HANDLER = "forget_request_id"


@dataclass(frozen=True)
class Pattern(Generic[R]):
    name: str  # on topics and in the CLI: "tool-routing"
    service: str  # the Restate service
    handler: str  # its handler that runs one request
    request: type[R]  # what a request record must be; every field has a default, so {} runs the example
    work: Work[R]  # the algorithm
    keyed: bool = False  # a Virtual Object keyed by the record key (chat: the session id)
    # The LLM calls a request usually makes: when its model is limited, its first permit covers that
    # many, so it waits for the model's budget once rather than before every call.
    llm_calls: int = 1
    # Further handlers of a keyed pattern's object that only read its state (chat: history).
    readers: tuple[Callable[[restate.ObjectSharedContext], Awaitable[Any]], ...] = ()

    def idle_timeout(self) -> timedelta:
        """The inactivity timeout of the handlers that run this pattern's requests.

        Every pattern may wait: for its model's budget (handlers/provider_budget.py), for a person
        (human-in-the-loop), for another service's invocation (remote agents). Restate suspends it
        soon after it goes idle, so a waiting request holds none of the invoker's slots
        (settings.restate_invoker_limit) that what it waits for (the budget's own invocations) may need.
        """
        return waiting_inactivity_timeout()

    def component(self) -> restate.Service | restate.VirtualObject:
        """The Restate service (or object) that runs this pattern: its typed handler and its record intake."""

        async def handle(ctx: restate.Context, request: R) -> AgentResult:
            await claim_over_http(ctx, self, request, FORGET_CLAIM_HANDLER)
            flow = request_flow(request, self.llm_calls)
            return await run_pattern(ctx, self.name, request, self.work, keyed=self.keyed, flow=flow)

        # The SDK reads the handler's signature for its input and output types.
        handle.__annotations__ = {
            "ctx": restate.ObjectContext if self.keyed else restate.Context,
            "request": self.request,
            "return": AgentResult,
        }
        policy = invocation_retry_policy()
        idle = self.idle_timeout()
        component: restate.Service | restate.VirtualObject
        if self.keyed:
            component = restate.VirtualObject(self.service, invocation_retry_policy=policy)
            for reader in self.readers:
                component.handler(kind="shared")(reader)
        else:
            component = restate.Service(self.service, invocation_retry_policy=policy)
        component.handler(self.handler, inactivity_timeout=idle)(handle)
        # Here, not at the top: the intake's RequestIds object is a service, and declarations build none.
        from handlers.intake import IntakeOutcome, forget_session_claim, ingest, session_key_of

        async def ingest_record(ctx: restate.Context, raw: bytes) -> IntakeOutcome:
            session_key = session_key_of(cast(restate.ObjectContext, ctx)) if self.keyed else None
            return await ingest(ctx, raw, self, session_key)

        ingest_record.__annotations__ = {
            "ctx": restate.ObjectContext if self.keyed else restate.Context,
            "raw": bytes,
            "return": IntakeOutcome,
        }
        # Private: only subscriptions deliver here, never an HTTP caller (it trusts the kafka.* headers).
        # A keyed pattern's ingest runs the request itself (in session order); the others hand it on.
        component.handler(
            INGEST_HANDLER,
            accept="*/*",
            input_serde=BytesSerde(),
            ingress_private=True,
            inactivity_timeout=idle if self.keyed else None,  # chat's runs the message
        )(ingest_record)
        if self.keyed:
            component.handler(FORGET_CLAIM_HANDLER, ingress_private=True)(forget_session_claim)
        return component
