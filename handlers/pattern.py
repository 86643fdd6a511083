"""A pattern as the server runs it: its contract (agentpipe/patterns.py) and its work, declared once
in the pattern's own module.

    handlers/chaining.py:  PATTERN = Pattern(PATTERNS["chaining"], work=chain, llm_calls=3)

The Restate service that serves it is built from it in handlers/pattern_service.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic

import restate

from agentpipe.patterns import PatternSpec
from handlers.policies import waiting_inactivity_timeout
from handlers.runtime import R, Work

# The private handler of a keyed pattern's object that forgets one request id's claim a day after it.
FORGET_CLAIM_HANDLER = "forget_request_id"


@dataclass(frozen=True)
class Pattern(Generic[R]):
    spec: PatternSpec[R]  # names, request shape, keyed: the contract's
    work: Work[R]  # the algorithm
    # The LLM calls a request usually makes: when its model is limited, its first permit covers that
    # many, so it waits for the model's budget once rather than before every call.
    llm_calls: int = 1
    # Further handlers of a keyed pattern's object that only read its state (chat: history).
    readers: tuple[Callable[[restate.ObjectSharedContext], Awaitable[Any]], ...] = ()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def service(self) -> str:
        return self.spec.service

    @property
    def handler(self) -> str:
        return self.spec.handler

    @property
    def request(self) -> type[R]:
        return self.spec.request

    @property
    def keyed(self) -> bool:
        return self.spec.keyed

    def idle_timeout(self) -> timedelta:
        """The inactivity timeout of the handlers that run this pattern's requests.

        Every pattern may wait: for its model's budget (handlers/provider_budget.py), for a person
        (human-in-the-loop), for another service's invocation (remote agents). Restate suspends it
        soon after it goes idle, so a waiting request holds none of the invoker's slots
        (settings.restate_invoker_limit) that what it waits for (the budget's own invocations) may need.
        """
        return waiting_inactivity_timeout()
