"""Tests of the offline model, the deterministic stand-in for a real LLM.

The server runs as a real subprocess (``python -m offline_model``) and is
spoken to with the official ``openai`` client, so the tests also prove that
its replies parse the way the handlers will see them.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest
from pydantic import BaseModel, ValidationError

from agentpipe import requests
from agentpipe import vocabulary as v
from agentpipe.settings import OFFLINE_MODEL_NAME
from handlers import prompts
from offline_model.client import OfflineModelControl
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
SUPPORT_TOOLS = (v.QUERY_USER_DATABASE, v.FETCH_SERVICE_STATUS, v.CREATE_SUPPORT_TICKET)
ROUTE_TOOLS = tuple(v.route_tool(route) for route in v.ROUTES)


# -- fixtures -------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory):
    port = free_port()
    log_path = tmp_path_factory.mktemp("offline_model") / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "offline_model", "--port", str(port)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        with OfflineModelControl(url) as control:
            if not control.wait_healthy(timeout=20):
                pytest.fail(f"offline model did not start:\n{log_path.read_text()}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def control(base_url: str):
    with OfflineModelControl(base_url) as ctl:
        yield ctl


@pytest.fixture(autouse=True)
def clean_controls(control: OfflineModelControl):
    control.reset()
    yield
    control.reset()


@pytest.fixture(scope="module")
def client(base_url: str):
    with openai.OpenAI(base_url=f"{base_url}/v1", api_key="offline", max_retries=0, timeout=10) as c:
        yield c


# -- helpers --------------------------------------------------------------------


def tool(name: str, **props: str) -> dict:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": f"{name} tool",
            "parameters": {
                "type": "object",
                "properties": {p: {"type": t} for p, t in props.items()},
                "required": list(props),
            },
        },
    }


def support_tools() -> list[dict]:
    return [
        tool(v.QUERY_USER_DATABASE, user_id="string"),
        tool(v.FETCH_SERVICE_STATUS),
        tool(v.CREATE_SUPPORT_TICKET, user_id="string", message="string"),
    ]


def chat(
    client: openai.OpenAI,
    system: str,
    *turns: dict | str,
    request_id: str | None = None,
    step: str | None = None,
    pattern: str | None = None,
    **kwargs,
):
    """One completion; plain strings in ``turns`` are user messages."""
    messages = [{"role": "system", "content": system}]
    messages += [{"role": "user", "content": t} if isinstance(t, str) else t for t in turns]
    headers = {
        k: v
        for k, v in {
            "X-Agentpipe-Request-Id": request_id,
            "X-Agentpipe-Step": step,
            "X-Agentpipe-Pattern": pattern,
        }.items()
        if v
    }
    return client.chat.completions.create(model=OFFLINE_MODEL_NAME, messages=messages, extra_headers=headers, **kwargs)


def text(completion) -> str:
    assert completion.choices[0].finish_reason == "stop"
    return completion.choices[0].message.content


def calls(completion) -> list[tuple[str, dict]]:
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    return [(c.function.name, json.loads(c.function.arguments)) for c in choice.message.tool_calls]


def tool_turns(completion, results: list[str]) -> list[dict]:
    """The assistant message with its tool calls, then one tool result per call."""
    message = completion.choices[0].message
    turns = [message.model_dump(exclude_none=True)]
    turns += [
        {"role": "tool", "tool_call_id": c.id, "content": r} for c, r in zip(message.tool_calls, results, strict=True)
    ]
    return turns


# -- basics -----------------------------------------------------------------------


def test_health_and_models(control: OfflineModelControl, client: openai.OpenAI) -> None:
    assert control.health()
    assert [m.id for m in client.models.list()] == [OFFLINE_MODEL_NAME]


def test_completion_shape(client: openai.OpenAI) -> None:
    completion = chat(client, "You are terse.", "Hello there")
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.choices[0].message.role == "assistant"
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


def test_same_request_same_reply(client: openai.OpenAI) -> None:
    args = (prompts.WEATHER_AGENT, requests.EXAMPLE_WEATHER_QUESTION)
    first, second = (chat(client, *args, tools=[tool(v.GET_WEATHER, location="string")]) for _ in range(2))
    ids = [c.id for c in first.choices[0].message.tool_calls]
    assert ids == [c.id for c in second.choices[0].message.tool_calls]
    assert all(i.startswith("call_") for i in ids) and len(set(ids)) == 3
    assert first.choices[0].message == second.choices[0].message
    other = chat(client, prompts.WEATHER_AGENT, "Weather in Oslo?", tools=[tool(v.GET_WEATHER, location="string")])
    assert other.choices[0].message.tool_calls[0].id not in ids


def test_content_given_as_parts(client: openai.OpenAI) -> None:
    parts = [{"type": "text", "text": "Revenue grew by 12%."}, {"type": "text", "text": "Churn is at 3%."}]
    assert (
        text(chat(client, prompts.EXTRACT_METRICS, {"role": "user", "content": parts}))
        == "revenue growth: 12%\nchurn: 3%"
    )


def test_fallback_echo(client: openai.OpenAI) -> None:
    message = "Tell me something about " + "x" * 100
    assert text(chat(client, "You are a poet.", message)) == f"offline model: {message[:80]}"


# -- 1. chaining --------------------------------------------------------------------

REPORT_LINES = [
    "customer satisfaction score: 92",
    "revenue growth: 45%",
    "market share: 23%",
    "customer churn: 5%",
    "employee satisfaction: 87",
    "operating margin: 34%",
]


def test_chaining_example_report(client: openai.OpenAI) -> None:
    extracted = text(chat(client, prompts.EXTRACT_METRICS, requests.EXAMPLE_REPORT))
    assert extracted.splitlines() == REPORT_LINES
    ordered = text(chat(client, prompts.SORT_METRICS, extracted))
    assert ordered.splitlines() == [
        "customer satisfaction score: 92",
        "employee satisfaction: 87",
        "revenue growth: 45%",
        "operating margin: 34%",
        "market share: 23%",
        "customer churn: 5%",
    ]
    table = text(chat(client, prompts.FORMAT_TABLE, ordered))
    rows = table.splitlines()
    assert rows[0] == "| Metric Name | Value |"
    assert rows[1] == "|---|---|"
    assert rows[2:] == [f"| {line.replace(': ', ' | ')} |" for line in ordered.splitlines()]


def test_chaining_other_text(client: openai.OpenAI) -> None:
    report = "Revenue grew by 12%. Churn is at 3%. NPS rose to 40 points."
    extracted = text(chat(client, prompts.EXTRACT_METRICS, report))
    assert extracted.splitlines() == ["revenue growth: 12%", "churn: 3%", "nps: 40"]
    ordered = text(chat(client, prompts.SORT_METRICS, extracted))
    assert ordered.splitlines() == ["nps: 40", "revenue growth: 12%", "churn: 3%"]
    table = text(chat(client, prompts.FORMAT_TABLE, ordered)).splitlines()
    assert table[2:] == ["| nps | 40 |", "| revenue growth | 12% |", "| churn | 3% |"]


def test_chaining_currency_and_text_without_numbers(client: openai.OpenAI) -> None:
    extracted = text(
        chat(
            client,
            prompts.EXTRACT_METRICS,
            "Sales reached $1.2 million in Q3. We hired 12 engineers. The mood is good.",
        )
    )
    assert extracted.splitlines() == ["sales: $1.2 million", "engineers: 12"]


# -- 2. tool routing -------------------------------------------------------------------


def test_tool_routing_opens_ticket_when_broken(client: openai.OpenAI) -> None:
    question = f"User ID: u-42\n{requests.EXAMPLE_SUPPORT_QUESTION}"
    first = chat(client, prompts.SUPPORT_AGENT, question, tools=support_tools())
    assert calls(first) == [(v.QUERY_USER_DATABASE, {"user_id": "u-42"}), (v.FETCH_SERVICE_STATUS, {})]

    history = [
        question,
        *tool_turns(
            first,
            [
                json.dumps({"user_id": "u-42", "name": "Ada", "plan": "pro", "api_access": "active"}),
                json.dumps({"status": "degraded", "component": "api"}),
            ],
        ),
    ]
    second = chat(client, prompts.SUPPORT_AGENT, *history, tools=support_tools())
    [(name, args)] = calls(second)
    assert name == v.CREATE_SUPPORT_TICKET
    assert args["user_id"] == "u-42" and "degraded" in args["message"]

    history += tool_turns(second, [json.dumps({"ticket_id": "T-1001", "status": "open"})])
    answer = text(chat(client, prompts.SUPPORT_AGENT, *history, tools=support_tools()))
    assert "T-1001" in answer and "degraded" in answer and "u-42" in answer


def test_tool_routing_answers_without_ticket_when_healthy(client: openai.OpenAI) -> None:
    question = "My dashboard looks odd. User ID: u-7"
    first = chat(client, prompts.SUPPORT_AGENT, question, tools=support_tools())
    assert calls(first)[0] == (v.QUERY_USER_DATABASE, {"user_id": "u-7"})
    history = [question, *tool_turns(first, ['{"user_id": "u-7", "plan": "free"}', '{"status": "operational"}'])]
    answer = text(chat(client, prompts.SUPPORT_AGENT, *history, tools=support_tools()))
    assert "operational" in answer and "no ticket" in answer


# -- 3. parallel tools -----------------------------------------------------------------


@pytest.mark.parametrize(
    "question, cities",
    [
        (requests.EXAMPLE_WEATHER_QUESTION, ["Berlin", "Tokyo", "New York"]),
        ("Is it warm in Rio de Janeiro, and what about San Francisco?", ["Rio de Janeiro", "San Francisco"]),
        ("Weather in Springfield, Shelbyville and Ogdenville please", ["Springfield", "Shelbyville", "Ogdenville"]),
        ("compare paris with london", ["Paris", "London"]),
    ],
)
def test_parallel_tools_one_call_per_city(client: openai.OpenAI, question: str, cities: list[str]) -> None:
    completion = chat(client, prompts.WEATHER_AGENT, question, tools=[tool(v.GET_WEATHER, location="string")])
    assert calls(completion) == [(v.GET_WEATHER, {"location": c}) for c in cities]


def test_parallel_tools_answer_from_results(client: openai.OpenAI) -> None:
    tools = [tool(v.GET_WEATHER, location="string")]
    first = chat(client, prompts.WEATHER_AGENT, requests.EXAMPLE_WEATHER_QUESTION, tools=tools)
    results = [
        json.dumps({"location": "Berlin", "temperature_c": 12, "conditions": "cloudy"}),
        "Tokyo: 20C and sunny",
        json.dumps({"temperature_c": 25, "conditions": "humid"}),
    ]
    answer = text(
        chat(client, prompts.WEATHER_AGENT, requests.EXAMPLE_WEATHER_QUESTION, *tool_turns(first, results), tools=tools)
    )
    assert answer.splitlines() == [
        "Berlin: temperature_c: 12, conditions: cloudy",
        "Tokyo: Tokyo: 20C and sunny",
        "New York: temperature_c: 25, conditions: humid",
    ]


def test_parallel_tools_results_without_matching_call_ids(client: openai.OpenAI) -> None:
    results = [{"role": "tool", "tool_call_id": f"own-{i}", "content": f"{t} C"} for i, t in enumerate((5, 9))]
    answer = text(
        chat(
            client,
            prompts.WEATHER_AGENT,
            "Weather in Oslo and Rome?",
            *results,
            tools=[tool(v.GET_WEATHER, location="string")],
        )
    )
    assert answer.splitlines() == ["Oslo: 5 C", "Rome: 9 C"]


def test_tool_choice_none_forces_text(client: openai.OpenAI) -> None:
    completion = chat(
        client,
        prompts.WEATHER_AGENT,
        "Weather in Oslo?",
        tools=[tool(v.GET_WEATHER, location="string")],
        tool_choice="none",
    )
    assert text(completion) == "offline model: Weather in Oslo?"


# -- 4./5. routing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "question, route",
    [
        (requests.EXAMPLE_ROUTING_QUESTION, "billing"),
        ("I forgot my password and cannot log in", "account"),
        ("How do I export the dashboard to CSV?", "product"),
        ("Tell me a joke", "product"),  # no keyword
        ("My password reset email asks for a payment", "account"),  # account 2 vs billing 1
        ("The invoice page shows my profile", "product"),  # tie 1:1 -> product
    ],
)
def test_router_classifies(client: openai.OpenAI, question: str, route: str) -> None:
    completion = chat(client, prompts.ROUTER, question, tools=[tool(t, question="string") for t in ROUTE_TOOLS])
    assert calls(completion) == [(v.route_tool(route), {"question": question})]


@pytest.mark.parametrize("route", ["billing", "account", "product"])
def test_specialists_answer_with_their_tag(client: openai.OpenAI, route: str) -> None:
    answer = text(chat(client, prompts.SPECIALISTS[route], requests.EXAMPLE_ROUTING_QUESTION))
    assert answer.startswith(f"[{route}] ")
    assert requests.EXAMPLE_ROUTING_QUESTION in answer


# -- 6. parallel agents ------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, label",
    [
        (requests.EXAMPLE_REVIEW, "positive"),
        ("The app is terrible and slow. It crashes daily.", "negative"),
        ("The box is blue. It arrived on Tuesday.", "neutral"),
    ],
)
def test_sentiment(client: openai.OpenAI, content: str, label: str) -> None:
    answer = text(chat(client, prompts.PARALLEL_ANALYSES["sentiment"], content))
    assert answer.startswith(f"{label}: ")


def test_key_points_are_three_bullets(client: openai.OpenAI) -> None:
    answer = text(chat(client, prompts.PARALLEL_ANALYSES["key_points"], requests.EXAMPLE_REVIEW))
    assert answer.splitlines() == [
        "- The new release is fantastic.",
        "- Setup took five minutes and the dashboard is much faster.",
        "- Support answered my question within an hour.",
    ]
    short = text(chat(client, prompts.PARALLEL_ANALYSES["key_points"], "Fast, cheap"))
    assert len(short.splitlines()) == 3 and all(line.startswith("- ") for line in short.splitlines())


def test_summary_is_one_sentence(client: openai.OpenAI) -> None:
    answer = text(chat(client, prompts.PARALLEL_ANALYSES["summary"], requests.EXAMPLE_REVIEW))
    assert answer == "The new release is fantastic."


# -- 7. orchestrator-workers ----------------------------------------------------------------


class Task(BaseModel):
    task_type: str
    instruction: str


class TaskList(BaseModel):
    tasks: list[Task]


TASK_LIST_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "task_list",
        "strict": True,
        "schema": {
            "type": "object",
            "required": ["tasks"],
            "additionalProperties": False,
            "properties": {
                "tasks": {
                    "type": "array",
                    "maxItems": 5,
                    "items": {
                        "type": "object",
                        "required": ["task_type", "instruction"],
                        "additionalProperties": False,
                        "properties": {"task_type": {"type": "string"}, "instruction": {"type": "string"}},
                    },
                }
            },
        },
    },
}


def test_orchestrator_returns_task_list(client: openai.OpenAI) -> None:
    answer = text(chat(client, prompts.ORCHESTRATOR, requests.EXAMPLE_PRODUCT_TEXT, response_format=TASK_LIST_FORMAT))
    tasks = TaskList.model_validate_json(answer).tasks
    assert [t.task_type for t in tasks] == ["formal", "conversational", "technical"]
    assert all("water bottle" in t.instruction for t in tasks)


def test_orchestrator_with_openai_parse(client: openai.OpenAI) -> None:
    completion = client.chat.completions.parse(
        model=OFFLINE_MODEL_NAME,
        response_format=TaskList,
        messages=[
            {"role": "system", "content": prompts.ORCHESTRATOR},
            {"role": "user", "content": requests.EXAMPLE_PRODUCT_TEXT},
        ],
    )
    assert len(completion.choices[0].message.parsed.tasks) == 3


def test_orchestrator_respects_max_items(client: openai.OpenAI) -> None:
    fmt = json.loads(json.dumps(TASK_LIST_FORMAT))
    fmt["json_schema"]["schema"]["properties"]["tasks"]["maxItems"] = 2
    answer = text(chat(client, prompts.ORCHESTRATOR, requests.EXAMPLE_PRODUCT_TEXT, response_format=fmt))
    assert len(json.loads(answer)["tasks"]) == 2


def test_generic_json_schema_gets_valid_instance(client: openai.OpenAI) -> None:
    fmt = {
        "type": "json_schema",
        "json_schema": {
            "name": "verdict",
            "schema": {
                "type": "object",
                "properties": {"ok": {"type": "boolean"}, "score": {"type": "integer"}, "kind": {"enum": ["a", "b"]}},
            },
        },
    }
    assert json.loads(text(chat(client, "Judge it.", "text", response_format=fmt))) == {
        "ok": False,
        "score": 0,
        "kind": "a",
    }


@pytest.mark.parametrize("task_type", ["formal", "conversational", "technical"])
def test_worker_tags_its_task_type(client: openai.OpenAI, task_type: str) -> None:
    message = (
        f"Task type: {task_type}\nInstruction: Write it the {task_type} way.\n"
        f"Original task: {requests.EXAMPLE_PRODUCT_TEXT}"
    )
    answer = text(chat(client, prompts.WORKER, message))
    assert answer.startswith(f"[{task_type}] ") and "water bottle" in answer


# -- 8. evaluator-optimizer -------------------------------------------------------------------


def test_evaluator_optimizer_passes_in_round_two(client: openai.OpenAI) -> None:
    task = f"Task: {requests.EXAMPLE_CODING_TASK}"
    round1 = text(chat(client, prompts.GENERATOR, f"{task}\nFeedback: "))
    assert "MinStack" in round1 and "Addressed feedback" not in round1
    verdict1 = text(chat(client, prompts.EVALUATOR, f"{task}\nSolution:\n{round1}"))
    assert verdict1 == "IMPROVE: handle the empty stack case and document complexity"

    feedback = verdict1.removeprefix("IMPROVE:").strip()
    round2 = text(chat(client, prompts.GENERATOR, f"{task}\nPrevious solution:\n{round1}\nFeedback: {feedback}"))
    assert f"Addressed feedback: {feedback}" in round2
    verdict2 = text(chat(client, prompts.EVALUATOR, f"{task}\nSolution:\n{round2}"))
    assert verdict2.startswith("PASS: ")


def test_generator_reads_feedback_from_earlier_turns(client: openai.OpenAI) -> None:
    answer = text(
        chat(
            client,
            prompts.GENERATOR,
            requests.EXAMPLE_CODING_TASK,
            {"role": "assistant", "content": "first attempt"},
            "Feedback:\nadd docstrings\nand tests",
        )
    )
    assert "Addressed feedback: add docstrings" in answer


# -- 9. human in the loop ------------------------------------------------------------------------


def test_moderation_asks_for_human_review_when_unsure(client: openai.OpenAI) -> None:
    review_tool = [tool(v.GET_HUMAN_REVIEW, reason="string")]
    completion = chat(client, prompts.MODERATOR, requests.EXAMPLE_CONTENT, tools=review_tool)
    [(name, args)] = calls(completion)
    assert name == v.GET_HUMAN_REVIEW and "borderline" in args["reason"]
    decided = chat(
        client,
        prompts.MODERATOR,
        requests.EXAMPLE_CONTENT,
        *tool_turns(completion, ['{"decision": "rejected", "reviewer": "ann"}']),
        tools=review_tool,
    )
    assert text(decided).startswith("REJECTED: ")


@pytest.mark.parametrize(
    "content, verdict",
    [
        ("Buy now, this crypto scam doubles your money", "REJECTED: "),
        ("A photo of my cat sleeping on the sofa.", "APPROVED: "),
    ],
)
def test_moderation_decides_clear_cases(client: openai.OpenAI, content: str, verdict: str) -> None:
    answer = text(chat(client, prompts.MODERATOR, content, tools=[tool(v.GET_HUMAN_REVIEW, reason="string")]))
    assert answer.startswith(verdict)


# -- 10. chat ------------------------------------------------------------------------------------


def test_chat_reflects_history(client: openai.OpenAI) -> None:
    first = text(chat(client, prompts.CHAT_ASSISTANT, requests.EXAMPLE_CHAT_MESSAGE))
    assert first == f"Turn 1. You said: {requests.EXAMPLE_CHAT_MESSAGE} This is the start of our conversation."
    third = text(
        chat(
            client,
            prompts.CHAT_ASSISTANT,
            "My name is Ada.",
            {"role": "assistant", "content": first},
            "I like tea.",
            {"role": "assistant", "content": "ok"},
            "What is my name?",
        )
    )
    assert third == "Turn 3. You said: What is my name? Earlier you said: My name is Ada. | I like tea.."


# -- faults -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, error",
    [
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (400, openai.BadRequestError),
    ],
)
def test_fail_next_raises_status_errors(
    client: openai.OpenAI, control: OfflineModelControl, status: int, error: type[Exception]
) -> None:
    state = control.fail_next(1, status)
    assert state["faults"] == [
        {"kind": "fail", "remaining": 1, "match": None, "status": status, "seconds": None, "step": None}
    ]
    with pytest.raises(error) as info:
        chat(client, "x", "hello")
    assert info.value.status_code == status
    if status == 429:
        assert info.value.response.headers["retry-after-ms"] == "50"
    assert text(chat(client, "x", "hello")) == "offline model: hello"  # count used up
    assert control.state()["faults"] == []


def test_fail_match_only_hits_matching_request_ids(client: openai.OpenAI, control: OfflineModelControl) -> None:
    control.fail_next(2, 500, match="req-A")
    assert text(chat(client, "x", "hi", request_id="req-B-1"))
    assert text(chat(client, "x", "hi"))  # no request id never matches a filtered fault
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            chat(client, "x", "hi", request_id="run-req-A-7")
    assert text(chat(client, "x", "hi", request_id="run-req-A-7"))


def test_openai_retries_through_injected_429(base_url: str, control: OfflineModelControl) -> None:
    control.fail_next(2, 429, match="retry-me")
    with openai.OpenAI(base_url=f"{base_url}/v1", api_key="offline", max_retries=3) as retrying:
        assert text(chat(retrying, "x", "hello", request_id="retry-me"))
    assert [c["status"] for c in control.calls(request_id="retry-me")] == [429, 429, 200]


def test_hang_makes_the_client_time_out(base_url: str, control: OfflineModelControl) -> None:
    control.hang_next(1, 2.0, match="slow-1")
    with openai.OpenAI(base_url=f"{base_url}/v1", api_key="offline", max_retries=0, timeout=0.5) as impatient:
        start = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            chat(impatient, "x", "hello", request_id="slow-1")
        assert time.monotonic() - start < 1.5
        assert text(chat(impatient, "x", "hello", request_id="slow-1"))  # the hang was used up
    [hung, ok] = control.calls(request_id="slow-1")
    assert hung["fault"] == "hang" and ok["fault"] is None


def test_latency_is_added_and_reset(client: openai.OpenAI, control: OfflineModelControl) -> None:
    assert control.set_latency(300)["latency_ms"] == 300
    start = time.monotonic()
    chat(client, "x", "hello")
    assert time.monotonic() - start >= 0.3
    control.reset()
    start = time.monotonic()
    chat(client, "x", "hello")
    assert time.monotonic() - start < 0.25


def test_malformed_tool_args(client: openai.OpenAI, control: OfflineModelControl) -> None:
    tools = [tool(v.GET_WEATHER, location="string")]
    control.malformed_tool_args(1)
    assert text(chat(client, "x", "no tools here"))  # text replies do not consume the fault
    assert control.state()["faults"][0]["remaining"] == 1
    bad = chat(client, prompts.WEATHER_AGENT, requests.EXAMPLE_WEATHER_QUESTION, tools=tools, request_id="mt-1")
    for call in bad.choices[0].message.tool_calls:
        with pytest.raises(json.JSONDecodeError):
            json.loads(call.function.arguments)
    assert len(calls(chat(client, prompts.WEATHER_AGENT, requests.EXAMPLE_WEATHER_QUESTION, tools=tools))) == 3
    assert control.calls(request_id="mt-1")[0]["fault"] == "malformed_tool_args"


def test_malformed_json(client: openai.OpenAI, control: OfflineModelControl) -> None:
    control.malformed_json(1, match="orch")
    bad = text(
        chat(
            client,
            prompts.ORCHESTRATOR,
            requests.EXAMPLE_PRODUCT_TEXT,
            response_format=TASK_LIST_FORMAT,
            request_id="orch-1",
        )
    )
    with pytest.raises(json.JSONDecodeError):
        json.loads(bad)
    good = text(
        chat(
            client,
            prompts.ORCHESTRATOR,
            requests.EXAMPLE_PRODUCT_TEXT,
            response_format=TASK_LIST_FORMAT,
            request_id="orch-2",
        )
    )
    assert len(TaskList.model_validate_json(good).tasks) == 3


def test_malformed_json_breaks_openai_parse(client: openai.OpenAI, control: OfflineModelControl) -> None:
    control.malformed_json(1)
    with pytest.raises(ValidationError):  # the content is not the JSON of a TaskList
        client.chat.completions.parse(
            model=OFFLINE_MODEL_NAME,
            response_format=TaskList,
            messages=[
                {"role": "system", "content": prompts.ORCHESTRATOR},
                {"role": "user", "content": requests.EXAMPLE_PRODUCT_TEXT},
            ],
        )


def test_reset_clears_faults_but_keeps_the_log(client: openai.OpenAI, control: OfflineModelControl) -> None:
    chat(client, "x", "hello", request_id="keep-me")
    control.set_latency(50)
    control.fail_next(3, 500)
    control.hang_next(1, 5)
    state = control.reset()
    assert {k: state[k] for k in ("latency_ms", "variant", "faults")} == {"latency_ms": 0, "variant": "a", "faults": []}
    assert len(control.calls(request_id="keep-me")) == 1


# -- call log ------------------------------------------------------------------------------------------


def test_call_log_records_headers_status_and_faults(client: openai.OpenAI, control: OfflineModelControl) -> None:
    control.clear_calls()
    assert control.calls() == []
    chat(
        client,
        prompts.WEATHER_AGENT,
        requests.EXAMPLE_WEATHER_QUESTION,
        tools=[tool(v.GET_WEATHER, location="string")],
        request_id="log-1",
        step="llm-1",
        pattern="parallel-tools",
    )
    control.fail_next(1, 429, match="log-1")
    with pytest.raises(openai.RateLimitError):
        chat(client, "x", "again", request_id="log-1", step="llm-2", pattern="parallel-tools")
    chat(client, "x", "other", request_id="log-2")

    entries = control.calls(request_id="log-1")
    assert [(e["step"], e["pattern"], e["status"], e["fault"]) for e in entries] == [
        ("llm-1", "parallel-tools", 200, None),
        ("llm-2", "parallel-tools", 429, "fail"),
    ]
    assert entries[0]["tools"] == [v.GET_WEATHER]
    assert entries[0]["tool_calls"] == [v.GET_WEATHER] * 3
    assert all(e["started_at"] <= e["finished_at"] for e in entries)
    assert len(control.calls()) == 3
    control.clear_calls()
    assert control.calls() == []


# -- protocol edges and load --------------------------------------------------------------------------


def test_bad_requests_get_openai_style_errors(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as http:
        response = http.post("/v1/chat/completions", content=b"{not json")
        assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"
        assert http.post("/v1/chat/completions", json={"model": "m"}).status_code == 400
        assert http.get("/nowhere").status_code == 404
        assert http.get("/v1/chat/completions").status_code == 405
        assert http.post("/control/fail", json={"count": 1, "status": 200}).status_code == 400
        assert http.post("/control/latency", json={"ms": "fast"}).status_code == 400


def test_many_concurrent_requests(base_url: str, control: OfflineModelControl) -> None:
    control.set_latency(200)

    async def run() -> list[str]:
        async with openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="offline", max_retries=0) as aclient:

            async def one(i: int) -> str:
                completion = await aclient.chat.completions.create(
                    model=OFFLINE_MODEL_NAME, messages=[{"role": "user", "content": f"hello {i}"}]
                )
                return completion.choices[0].message.content

            return await asyncio.gather(*(one(i) for i in range(200)))

    start = time.monotonic()
    answers = asyncio.run(run())
    assert answers == [f"offline model: hello {i}" for i in range(200)]
    assert time.monotonic() - start < 3.0  # concurrent: far less than 200 x 0.2 s


def test_variant_b_changes_exactly_the_churn_tables_and_refuses_fail_me(
    client: openai.OpenAI, control: OfflineModelControl
) -> None:
    churn, other = "customer churn: 5%\nrevenue growth: 12%", "revenue growth: 12%"
    before = [text(chat(client, prompts.FORMAT_TABLE, t)) for t in (churn, other)]
    control.set_variant("b")
    try:
        after = [text(chat(client, prompts.FORMAT_TABLE, t)) for t in (churn, other)]
        with pytest.raises(openai.BadRequestError):
            chat(client, prompts.FORMAT_TABLE, "fail-me: 1%")
    finally:
        control.set_variant("a")
    assert after[0] != before[0] and after[0].startswith("| Metric | Value |")
    assert after[1] == before[1]
    assert text(chat(client, prompts.FORMAT_TABLE, churn)) == before[0]  # back to a
