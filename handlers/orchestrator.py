"""Orchestrator-workers: one LLM call plans a task list (validated JSON), workers run in parallel.

Task → Plan tasks (JSON schema) → Worker(task 1) ‖ Worker(task 2) ‖ … → [task_type: result, …]
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from restate import TerminalError

from agentpipe import vocabulary
from agentpipe.patterns import PATTERNS
from agentpipe.requests import OrchestratorRequest
from handlers import prompts
from handlers.budgeted_calls import LlmCall
from handlers.pattern import Pattern
from handlers.runtime import Outcome, PatternRun

PLAN_ATTEMPTS = 3  # invalid plans are asked for again, then the request fails


class Task(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_type: str = Field(min_length=1, max_length=100)
    instruction: str = Field(min_length=1)


class TaskList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tasks: list[Task] = Field(min_length=1)


# Validation keywords that OpenAI's strict structured outputs do not take; pydantic checks them on the reply.
UNSTRICT_KEYWORDS = frozenset({"minLength", "maxLength", "minItems", "maxItems", "title"})


def strict_schema(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {
            key: strict_schema(value)
            for key, value in schema.items()
            if key not in UNSTRICT_KEYWORDS or (key == "title" and isinstance(value, dict))
        }
    if isinstance(schema, list):
        return [strict_schema(item) for item in schema]
    return schema


def response_format(model: type[BaseModel], name: str) -> dict[str, Any]:
    """The structured-output request for ``model``, generated from it."""
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "strict": True, "schema": strict_schema(model.model_json_schema())},
    }


TASK_LIST_FORMAT = response_format(TaskList, vocabulary.TASK_LIST)


async def plan(run: PatternRun[OrchestratorRequest], task: str) -> list[Task]:
    messages = [{"role": "system", "content": prompts.ORCHESTRATOR}, {"role": "user", "content": task}]
    problem = ""
    for attempt in range(1, PLAN_ATTEMPTS + 1):
        step = "Plan tasks" if attempt == 1 else f"Plan tasks (attempt {attempt})"
        reply = await run.llm(step, messages, response_format=TASK_LIST_FORMAT)
        try:
            tasks = TaskList.model_validate(json.loads(reply.text)).tasks
        except (json.JSONDecodeError, ValidationError) as exc:
            problem = str(exc).splitlines()[0]
            continue
        return tasks[: (await run.bounds()).orchestrator_max_tasks]
    raise TerminalError(f"the orchestrator returned no valid task list in {PLAN_ATTEMPTS} attempts: {problem}")


async def orchestrate(run: PatternRun[OrchestratorRequest], request: OrchestratorRequest) -> Outcome:
    tasks = await plan(run, request.message)
    calls = [
        LlmCall(
            f"Worker: {task.task_type}",
            [
                {"role": "system", "content": prompts.WORKER},
                {
                    "role": "user",
                    "content": f"Task type: {task.task_type}\nInstruction: {task.instruction}\n"
                    f"Original task: {request.message}",
                },
            ],
        )
        for task in tasks
    ]
    replies = await run.llm_all(calls)
    return Outcome(output=[f"{task.task_type}: {reply.text}" for task, reply in zip(tasks, replies, strict=True)])


PATTERN = Pattern(PATTERNS["orchestrator"], work=orchestrate, llm_calls=4)
