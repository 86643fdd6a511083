"""Request models of the ten patterns; every field has a default, so ``{}`` runs the example."""

from __future__ import annotations

from pydantic import Field

from agentpipe.messages import AgentRequest
from handlers import prompts


class ChainingRequest(AgentRequest):
    message: str = prompts.EXAMPLE_REPORT


class ToolRoutingRequest(AgentRequest):
    message: str = prompts.EXAMPLE_SUPPORT_QUESTION
    user_id: str = Field(default="user-42", min_length=1, max_length=128)


class ParallelToolsRequest(AgentRequest):
    message: str = prompts.EXAMPLE_WEATHER_QUESTION


class AgentRoutingRequest(AgentRequest):
    message: str = prompts.EXAMPLE_ROUTING_QUESTION


class ParallelAgentsRequest(AgentRequest):
    message: str = prompts.EXAMPLE_REVIEW


class OrchestratorRequest(AgentRequest):
    message: str = prompts.EXAMPLE_PRODUCT_TEXT


class EvaluatorRequest(AgentRequest):
    message: str = prompts.EXAMPLE_CODING_TASK


class ModerationRequest(AgentRequest):
    message: str = ""
    content: str | None = None
    # A shorter review deadline for this request; the review_timeout_s setting is the upper bound.
    review_timeout_s: float | None = Field(default=None, gt=0)

    @property
    def text(self) -> str:
        return self.content or self.message or prompts.EXAMPLE_CONTENT


class ChatRequest(AgentRequest):
    message: str = prompts.EXAMPLE_CHAT_MESSAGE
    reset: bool = False  # true: clear the session's history instead of replying


REQUEST_MODELS: dict[str, type[AgentRequest]] = {
    "chaining": ChainingRequest,
    "tool-routing": ToolRoutingRequest,
    "parallel-tools": ParallelToolsRequest,
    "agent-routing": AgentRoutingRequest,
    "remote-agent-routing": AgentRoutingRequest,
    "parallel-agents": ParallelAgentsRequest,
    "orchestrator": OrchestratorRequest,
    "evaluator-optimizer": EvaluatorRequest,
    "human-in-the-loop": ModerationRequest,
    "chat": ChatRequest,
}
