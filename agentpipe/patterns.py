"""The ten patterns as the contract names them: topic name, Restate service and handler, request
shape, and whether records are keyed (chat: by session). The CLI, the client library, the
subscription map and the AsyncAPI document read this; the server's ``handlers/`` give each
spec its work (``handlers.pattern.Pattern``) and never restate these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from agentpipe.messages import AgentRequest
from agentpipe.requests import (
    ChainingRequest,
    ChatRequest,
    EvaluatorRequest,
    ModerationRequest,
    OrchestratorRequest,
    ParallelAgentsRequest,
    ParallelToolsRequest,
    RoutingRequest,
    ToolRoutingRequest,
)

R = TypeVar("R", bound=AgentRequest)

# The private handler of every pattern service that Kafka subscriptions deliver raw records to.
INGEST_HANDLER = "ingest"


@dataclass(frozen=True)
class PatternSpec(Generic[R]):
    name: str  # on topics and in the CLI: "tool-routing"
    service: str  # the Restate service
    handler: str  # its handler that runs one request
    request: type[R]  # what a request record must be; every field has a default, so {} runs the example
    keyed: bool = False  # a Virtual Object keyed by the record key (chat: the session id)


# In the order the CLI and the demo show them.
PATTERNS: dict[str, PatternSpec[Any]] = {
    spec.name: spec
    for spec in (
        PatternSpec("chaining", "CallChainingService", "run", ChainingRequest),
        PatternSpec("tool-routing", "ToolRouterService", "route", ToolRoutingRequest),
        PatternSpec("parallel-tools", "ParallelToolAgent", "run", ParallelToolsRequest),
        PatternSpec("agent-routing", "AgentRouterService", "route", RoutingRequest),
        PatternSpec("remote-agent-routing", "RemoteAgentRouterService", "route", RoutingRequest),
        PatternSpec("parallel-agents", "ParallelAgentsService", "analyze_text", ParallelAgentsRequest),
        PatternSpec("orchestrator", "Orchestrator", "process_text", OrchestratorRequest),
        PatternSpec("evaluator-optimizer", "EvaluatorOptimizer", "improve_until_good", EvaluatorRequest),
        PatternSpec("human-in-the-loop", "HumanInTheLoopService", "moderate", ModerationRequest),
        PatternSpec("chat", "Chat", "message", ChatRequest, keyed=True),
    )
}
