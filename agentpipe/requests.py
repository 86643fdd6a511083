"""What a request record of each pattern may hold, beyond the fields every request has
(``agentpipe.messages.AgentRequest``), and the example each runs when a field is absent.

Part of the contract: the intake validates records against these, the CLI and the AsyncAPI
document show them, and a client needs nothing of the server to build one. Every field has a
default, so ``{}`` runs the pattern's example.
"""

from __future__ import annotations

from pydantic import Field

from agentpipe.messages import MESSAGE_DESCRIPTION, AgentRequest

EXAMPLE_REPORT = (
    "Q3 Performance Summary: Our customer satisfaction score rose to 92 points this quarter. "
    "Revenue grew by 45% compared to last year. Market share is now at 23% in our primary market. "
    "Customer churn decreased to 5% from 8%. Employee satisfaction is at 87 points. "
    "Operating margin improved to 34%."
)
EXAMPLE_SUPPORT_QUESTION = "My API calls keep failing with errors since this morning. What is wrong with my account?"
EXAMPLE_WEATHER_QUESTION = "What is the weather like in Berlin, Tokyo and New York right now?"
EXAMPLE_ROUTING_QUESTION = "I was charged twice on my last invoice, can I get a refund?"
EXAMPLE_REVIEW = (
    "The new release is fantastic. Setup took five minutes and the dashboard is much faster. "
    "Support answered my question within an hour. I only wish the export had more formats."
)
EXAMPLE_PRODUCT_TEXT = "Write a product description for a new eco-friendly water bottle."
EXAMPLE_CODING_TASK = "Implement a Stack with push, pop and get_min, all in O(1) time."
EXAMPLE_CONTENT = "This borderline post jokes about skipping taxes; it might be satire or might be advice."
EXAMPLE_CHAT_MESSAGE = "Hello! What can you do?"


class ChainingRequest(AgentRequest):
    """A chaining request: a text whose metrics become a table."""

    message: str = Field(default=EXAMPLE_REPORT, description=MESSAGE_DESCRIPTION)


class ToolRoutingRequest(AgentRequest):
    """A tool-routing request: a user's support question."""

    message: str = Field(default=EXAMPLE_SUPPORT_QUESTION, description=MESSAGE_DESCRIPTION)
    user_id: str = Field(
        default="user-42",
        min_length=1,
        max_length=128,
        description="The user the support agent helps and opens a ticket for.",
    )


class ParallelToolsRequest(AgentRequest):
    """A parallel-tools request: a question about the weather in one or more places."""

    message: str = Field(default=EXAMPLE_WEATHER_QUESTION, description=MESSAGE_DESCRIPTION)


class RoutingRequest(AgentRequest):
    """An agent-routing or remote-agent-routing request: a customer question for a specialist."""

    message: str = Field(default=EXAMPLE_ROUTING_QUESTION, description=MESSAGE_DESCRIPTION)


class ParallelAgentsRequest(AgentRequest):
    """A parallel-agents request: a text to analyze three ways at once."""

    message: str = Field(default=EXAMPLE_REVIEW, description=MESSAGE_DESCRIPTION)


class OrchestratorRequest(AgentRequest):
    """An orchestrator request: a writing task, split into subtasks."""

    message: str = Field(default=EXAMPLE_PRODUCT_TEXT, description=MESSAGE_DESCRIPTION)


class EvaluatorRequest(AgentRequest):
    """An evaluator-optimizer request: a coding task, improved until the evaluator accepts it."""

    message: str = Field(default=EXAMPLE_CODING_TASK, description=MESSAGE_DESCRIPTION)


class ModerationRequest(AgentRequest):
    """A human-in-the-loop request: content to moderate; a person decides the unclear cases."""

    message: str = Field(default="", description="The text to moderate when content is absent.")
    content: str | None = Field(default=None, description="The text to moderate; absent: message, then the example.")
    # A shorter review deadline for this request; the review_timeout_s setting is the upper bound.
    review_timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="A shorter review deadline, in seconds; AGENTPIPE_REVIEW_TIMEOUT_S (24 h by default) is the "
        "upper bound.",
    )

    @property
    def text(self) -> str:
        return self.content or self.message or EXAMPLE_CONTENT


class ChatRequest(AgentRequest):
    """A chat request: one user message in the session the record key names."""

    message: str = Field(default=EXAMPLE_CHAT_MESSAGE, description=MESSAGE_DESCRIPTION)
    reset: bool = Field(default=False, description="True: clear the session's history instead of replying.")
