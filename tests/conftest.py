"""One session-scoped fixture brings the real stack up once (Kafka, restate-server, offline model,
agent service, remote agents) in a fresh state folder, and takes it down at the end.

``--stack=existing`` reuses a stack that is already running (``agentpipe up``).
``--topology=cluster`` runs tests/cluster/ (and only those) against the cluster topology
(three brokers, three Restate nodes, agent-service processes behind nginx) in its own
folder; without it tests/cluster/ is not collected, so each topology has its own run.
When a component cannot start, the session fails (never skips) with the
component's name, the cause and the tail of its log.

Every end-to-end test carries the ``stack`` marker, so ``-m "not stack"`` runs the rest
without Java, npm, docker-compose or a stack: here, each test that uses the ``stack``
fixture (directly or through another fixture) and each test in an end-to-end folder;
in their modules, the tests that start Java or docker-compose themselves.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Separate folders (and AGENTPIPE_*_PORT variables) let two test sessions run side by side.
TEST_API_KEY = "sk-agentpipe-test-" + "7f3c9a1e5b" * 3  # fake; must never show up in a log file
TEST_STATE_DIR = Path(os.environ.get("AGENTPIPE_TEST_STATE_DIR", ROOT / ".agentpipe" / "test-stack"))
CLUSTER_STATE_DIR = Path(os.environ.get("AGENTPIPE_TEST_CLUSTER_STATE_DIR", ROOT / ".agentpipe" / "test-cluster"))
TESTS = Path(__file__).resolve().parent
SECOND_MODEL = "agentpipe-offline-second"
# Model names the flow-control tests limit at the offline model, each with a budget of its own:
# two with a budget configured for them (AGENTPIPE_LLM_BUDGETS: 1800 and 6 requests a minute), the others
# with none, so their budgets learn the limit from the provider's answers.
LIMITED_MODEL = "agentpipe-offline-limited"
LIMITED_RPM = 1800
LEARNING_MODEL = "agentpipe-offline-learning"
DEADLINE_MODEL = "agentpipe-offline-deadline"
# Configured, so its requests park at the ingest whatever the timing (tests/cli/test_cli_flow_status.py).
QUEUED_MODEL = "agentpipe-offline-queued"
QUEUED_RPM = 6
BENCH_LIMITED_MODEL = "agentpipe-bench-limited"  # benchmarks/flow.py: the benchmark's limited provider
# Folders of tests/ whose every test runs against the stack.
E2E_FOLDERS = ("patterns", "reliability", "bench", "cluster", "inbox")


def state_dir_for(config: pytest.Config) -> Path:
    return CLUSTER_STATE_DIR if config.getoption("--topology") == "cluster" else TEST_STATE_DIR


def pytest_addoption(parser):
    parser.addoption(
        "--always-replay",
        action="store_true",
        help="run restate-server with inactivity timeout 0: every suspension replays the journal",
    )
    parser.addoption(
        "--topology",
        default="single",
        choices=("single", "cluster"),
        help="'single' (default): one of each; 'cluster': run tests/cluster/ against three nodes of each",
    )
    parser.addoption(
        "--stack",
        default="fresh",
        help="'fresh' (default): start a new local stack for the session; 'existing': use the running one",
    )


def pytest_configure(config):
    if config.getoption("--stack") == "fresh":
        # Before any agentpipe import caches settings: the session's stack lives in its own folder.
        os.environ["AGENTPIPE_STATE_DIR"] = str(state_dir_for(config))
        os.environ["AGENTPIPE_TOPOLOGY"] = config.getoption("--topology")
        os.environ.pop("AGENTPIPE_APPROVAL_KEY", None)
        os.environ.pop("OPENAI_MODEL", None)
        # The suite drives the offline model, with an API key that tests look for in the logs:
        # it must never appear there.
        port = os.environ.get("AGENTPIPE_OFFLINE_MODEL_PORT", "9099")
        os.environ["OPENAI_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
        os.environ["OPENAI_API_KEY"] = TEST_API_KEY
        os.environ.setdefault("AGENTPIPE_REVIEW_TIMEOUT_S", "600")
        # More model names requests may choose (the offline model answers to any name).
        models = [SECOND_MODEL, LIMITED_MODEL, LEARNING_MODEL, DEADLINE_MODEL, QUEUED_MODEL, BENCH_LIMITED_MODEL]
        os.environ.setdefault("AGENTPIPE_ALLOWED_MODELS", json.dumps(models))
        os.environ.setdefault(
            "AGENTPIPE_LLM_BUDGETS",
            json.dumps(
                {
                    LIMITED_MODEL: {"requests_per_minute": LIMITED_RPM},
                    QUEUED_MODEL: {"requests_per_minute": QUEUED_RPM},
                }
            ),
        )
        if config.getoption("--topology") == "cluster":
            # Three processes share each provider budget (tests/cluster/test_flow_control_cluster.py).
            os.environ.setdefault("AGENTPIPE_CLUSTER_AGENT_SERVICES", "3")
        if config.getoption("--topology") == "single":
            # Few invoker slots: an invocation that holds one while it waits for another invocation
            # stalls the suite for a minute (tests/patterns/test_backlog.py shows none does). The
            # cluster's failover tests want hundreds of requests mid-way, so it keeps the default.
            os.environ.setdefault("AGENTPIPE_RESTATE_INVOKER_LIMIT", "16")
        # Short enough that hang faults are tested in seconds.
        os.environ.setdefault("AGENTPIPE_LLM_TIMEOUT_S", "4")
        if config.getoption("--always-replay"):
            # restate-server suspends at every await, so every step replays the journal.
            os.environ["AGENTPIPE_RESTATE_INACTIVITY_TIMEOUT"] = "0s"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """tests/cluster/ runs only with --topology=cluster, and then nothing else that needs a stack."""
    path = collection_path.resolve()
    cluster = TESTS / "cluster"
    in_cluster = path == cluster or cluster in path.parents
    if config.getoption("--topology") == "cluster":
        return None if in_cluster or path == TESTS or TESTS / "unit" in [path, *path.parents] else True
    return True if in_cluster else None


def pytest_collection_modifyitems(config, items):
    e2e_folders = [TESTS / folder for folder in E2E_FOLDERS]
    for item in items:
        in_e2e_folder = any(folder in item.path.resolve().parents for folder in e2e_folders)
        if "stack" in item.fixturenames or in_e2e_folder:
            item.add_marker(pytest.mark.stack)
        if TESTS / "cluster" in item.path.resolve().parents:
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def stack(request):
    """The running stack; yields the UpReport of `agentpipe up`."""
    from agentpipe.settings import get_settings
    from stack.errors import StackError
    from stack.installs import log_tail
    from stack.local import down, up

    fresh = request.config.getoption("--stack") == "fresh"
    topology = request.config.getoption("--topology")
    state_dir = state_dir_for(request.config)
    if fresh:
        down()
        for data in ("kafka-data", "restate-data", "status.json", "approval.key", "kafka-cluster-id"):
            target = state_dir / data
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        get_settings.cache_clear()
    try:
        report = up(timeout=300, topology=topology if fresh else None)
    except StackError as exc:
        tail = log_tail(exc.log_file, 30) if exc.log_file else ""
        pytest.fail(f"the local stack did not start: {exc}\n--- log tail ---\n{tail}", pytrace=False)
    get_settings.cache_clear()  # pick up the approval key `up` made
    yield report
    if fresh:
        down()
