"""Orchestrator-workers: one LLM call plans a task list (validated JSON), workers run in parallel.

    Task → Plan tasks (JSON schema) → Worker(task 1) ‖ Worker(task 2) ‖ … → [task_type: result, …]
"""

from __future__ import annotations

import json

import restate
from pydantic import BaseModel, Field, ValidationError
from restate import TerminalError

from handlers.policies import invocation_retry_policy
from handlers import prompts
from handlers.requests import OrchestratorRequest
from handlers.runtime import Outcome, PatternRun, run_pattern

orchestrator = restate.Service("Orchestrator", invocation_retry_policy=invocation_retry_policy())

PLAN_ATTEMPTS = 3  # invalid plans are asked for again, then the request fails


class Task(BaseModel):
    task_type: str = Field(min_length=1, max_length=100)
    instruction: str = Field(min_length=1)


class TaskList(BaseModel):
    tasks: list[Task] = Field(min_length=1)


TASK_LIST_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "task_list",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "tasks": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"task_type": {"type": "string"}, "instruction": {"type": "string"}},
                        "required": ["task_type", "instruction"],
                        "additionalProperties": False,
                    },
                }
            },
            "required": ["tasks"],
            "additionalProperties": False,
        },
    },
}


async def plan(run: PatternRun, task: str) -> list[Task]:
    messages = [{"role": "system", "content": prompts.ORCHESTRATOR}, {"role": "user", "content": task}]
    problem = ""
    for attempt in range(1, PLAN_ATTEMPTS + 1):
        step = "Plan tasks" if attempt == 1 else f"Plan tasks (attempt {attempt})"
        reply = await run.llm(step, messages, response_format=TASK_LIST_FORMAT)
        try:
            tasks = TaskList.model_validate(json.loads(reply["content"] or "")).tasks
        except (json.JSONDecodeError, ValidationError) as exc:
            problem = str(exc).splitlines()[0]
            continue
        return tasks[: (await run.bounds()).orchestrator_max_tasks]
    raise TerminalError(f"the orchestrator returned no valid task list in {PLAN_ATTEMPTS} attempts: {problem}")


async def orchestrate(run: PatternRun, request: OrchestratorRequest) -> Outcome:
    tasks = await plan(run, request.message)
    futures = [
        run.llm_future(
            f"Worker: {task.task_type}",
            [
                {"role": "system", "content": prompts.WORKER},
                {"role": "user", "content": f"Task type: {task.task_type}\nInstruction: {task.instruction}\n"
                                            f"Original task: {request.message}"},
            ],
        )
        for task in tasks
    ]
    await restate.gather(*futures)
    return Outcome(output=[f"{task.task_type}: {(await f)['content'] or ''}" for task, f in zip(tasks, futures)])


@orchestrator.handler()
async def process_text(ctx: restate.Context, request: OrchestratorRequest) -> dict:
    return await run_pattern(ctx, "orchestrator", request, orchestrate)
