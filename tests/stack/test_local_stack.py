"""Properties of `agentpipe up` / `agentpipe down` (the local stack without Docker).

Each test starts and stops its OWN stack through the real command line, in its own
state folder under tmp_path and on its own ports (3xxxx, distinct from the default
and from the session stack of tests/conftest.py, whose ``stack`` fixture is not used
here). A safety net stops whatever a failing test left behind, finding it only by
that test's state folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
AGENTPIPE = Path(sys.executable).parent / "agentpipe"

# 3xxxx ports below 32768: distinct from the default, 1xxxx and 2xxxx stacks, and outside
# Linux's ephemeral range (32768-60999), where an outgoing connection of any process may hold
# a port for a while and make restate-server's bind fail. Two sessions running this file at
# once need different offsets (AGENTPIPE_TEST_LOCAL_STACK_PORT_OFFSET, e.g. 200); a taken
# port fails the test up front instead of mixing two stacks.
PORT_OFFSET = int(os.environ.get("AGENTPIPE_TEST_LOCAL_STACK_PORT_OFFSET", "0"))
PORTS = {
    name: port + PORT_OFFSET
    for name, port in {
        "AGENTPIPE_KAFKA_PORT": 31092,
        "AGENTPIPE_KAFKA_CONTROLLER_PORT": 31093,
        "AGENTPIPE_RESTATE_INGRESS_PORT": 30080,
        "AGENTPIPE_RESTATE_ADMIN_PORT": 31070,
        "AGENTPIPE_RESTATE_NODE_PORT": 30122,
        "AGENTPIPE_AGENT_SERVICE_PORT": 31080,
        "AGENTPIPE_REMOTE_AGENTS_PORT": 31081,
        "AGENTPIPE_OFFLINE_MODEL_PORT": 31099,
    }.items()
}
COMPONENTS = ("kafka", "offline-model", "restate", "front", "agent-service", "remote-agents")
WARM_UP_LIMIT_S = 60.0

# Each test starts (or tries to start) a stack of its own: Java, npm.
pytestmark = [pytest.mark.timeout(300), pytest.mark.stack]


# -- helpers ---------------------------------------------------------------------


def stack_env(state_dir: Path, **extra: str) -> dict[str, str]:
    """A clean environment for one test's stack: its folder, its ports, the shared download cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTPIPE_", "OPENAI_"))}
    if "AGENTPIPE_CACHE_DIR" in os.environ:
        env["AGENTPIPE_CACHE_DIR"] = os.environ["AGENTPIPE_CACHE_DIR"]
    env.update({k: str(v) for k, v in PORTS.items()})
    env["AGENTPIPE_STATE_DIR"] = str(state_dir)
    env.update(extra)
    return env


def agentpipe(*args: str, env: dict[str, str], timeout: float = 240) -> tuple[int, str, float]:
    """Run the CLI; returns exit code, combined output and seconds taken."""
    if not AGENTPIPE.exists():
        pytest.fail(f"{AGENTPIPE} not found: install the project (`./dev setup`)", pytrace=False)
    started = time.monotonic()
    done = subprocess.run([str(AGENTPIPE), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def lines_of(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


def read_status(state_dir: Path) -> dict:
    return json.loads((state_dir / "status.json").read_text())


def port_listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def listeners_on_test_ports() -> list[str]:
    found = [f"{port} (connect succeeds)" for port in PORTS.values() if port_listening(port)]
    for conn in psutil.net_connections(kind="inet"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port in PORTS.values():
            found.append(f"{conn.laddr.port} (pid {conn.pid})")
    return found


def processes_of(state_dir: Path) -> list[str]:
    """Processes whose command line or environment mentions this test's state folder or ports."""
    me = os.getpid()
    port_env = {k: str(v) for k, v in PORTS.items()}
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        if proc.info["pid"] == me or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            environ = proc.environ()
        except psutil.Error:
            continue
        if (
            str(state_dir) in cmdline
            or str(state_dir) in environ.get("AGENTPIPE_STATE_DIR", "")
            or any(environ.get(k) == v for k, v in port_env.items())
        ):
            found.append(f"pid {proc.info['pid']}: {cmdline[:160]}")
    return found


def assert_nothing_left(state_dir: Path) -> None:
    assert processes_of(state_dir) == [], "`down` left processes behind"
    assert listeners_on_test_ports() == [], "`down` left something listening on the test ports"


def wait_until(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"not within {timeout:.0f}s: {what}", pytrace=False)


def healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def state_dir(tmp_path):
    """This test's state folder; whatever its stack left running is stopped afterwards."""
    busy = listeners_on_test_ports()
    if busy:
        pytest.fail(f"the test ports are taken before the test started: {busy}", pytrace=False)
    directory = tmp_path / "state"
    yield directory
    if (directory / "status.json").exists():
        subprocess.run([str(AGENTPIPE), "down"], env=stack_env(directory), cwd=ROOT, capture_output=True, timeout=120)
    for line in processes_of(directory):  # only processes that name this test's folder or ports
        pid = int(line.split()[1].rstrip(":"))
        with contextlib.suppress(psutil.Error):  # gone already
            psutil.Process(pid).kill()


def warm_cache(env: dict[str, str]) -> None:
    """Make sure the downloads are cached, so `up` is measured on a warm cache."""
    code = (
        "import sys; from pathlib import Path; from stack.installs import kafka_classpath, restate_binaries; "
        "logs = Path(sys.argv[1]); kafka_classpath(logs); restate_binaries(logs)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(Path(env["AGENTPIPE_STATE_DIR"]) / "logs")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"could not fill the download cache:\n{done.stderr[-2000:]}"


def up_ready(state_dir: Path, env: dict[str, str]) -> float:
    code, output, seconds = agentpipe("up", env=env)
    assert code == 0, f"`agentpipe up` failed (exit {code}):\n{output}"
    status = read_status(state_dir)
    assert status["state"] == "ready", status
    for name in COMPONENTS:
        pid = status["components"][name]["pid"]
        assert pid and psutil.pid_exists(pid), f"{name} has no live process: {status['components'][name]}"
    return seconds


# -- up / down -------------------------------------------------------------------


def test_warm_up_is_fast_twice_harmless_and_down_leaves_nothing(state_dir):
    env = stack_env(state_dir)
    warm_cache(env)

    seconds = up_ready(state_dir, env)
    print(f"\nwarm `agentpipe up` (fresh state folder): {seconds:.1f}s")
    assert seconds < WARM_UP_LIMIT_S, f"`agentpipe up` on a warm cache took {seconds:.1f}s"
    first = read_status(state_dir)
    for name, port in [
        ("agent-service", PORTS["AGENTPIPE_AGENT_SERVICE_PORT"]),
        ("remote-agents", PORTS["AGENTPIPE_REMOTE_AGENTS_PORT"]),
        ("offline-model", PORTS["AGENTPIPE_OFFLINE_MODEL_PORT"]),
    ]:
        assert healthy(port), f"{name} is not healthy on {port}"

    # A second `up` finds the stack, starts nothing and restarts nothing.
    code, output, _ = agentpipe("up", env=env)
    assert code == 0, output
    assert "already running" in output, output
    second = read_status(state_dir)
    assert second["pid"] == first["pid"], "a second `up` started another supervisor"
    restarted = [n for n, c in second["components"].items() if c["pid"] != first["components"][n]["pid"]]
    # Only a component that died in between is restarted (the supervisor's doing): its log says why.
    assert not restarted, {n: _log_tail(state_dir / "logs" / f"{n}.log") for n in restarted}

    # compose's init entry point works against a running stack and changes nothing.
    init = subprocess.run(
        [sys.executable, "-m", "stack.init", "--timeout", "60"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    assert "0 topic(s) created" in init.stdout and "+0 -0" in init.stdout, init.stdout

    code, output, _ = agentpipe("down", env=env)
    assert code == 0, output
    assert_nothing_left(state_dir)
    assert not psutil.pid_exists(first["pid"]), "the supervisor is still there"

    code, output, _ = agentpipe("down", env=env)
    assert code == 0 and "not running" in output, output


def test_supervisor_restarts_a_killed_component(state_dir):
    env = stack_env(state_dir)
    up_ready(state_dir, env)
    before = read_status(state_dir)["components"]["agent-service"]
    os.kill(before["pid"], signal.SIGKILL)

    def restarted():
        now = read_status(state_dir)["components"]["agent-service"]
        return now if now["pid"] and now["pid"] != before["pid"] else None

    after = wait_until(restarted, 30, "the supervisor restarts agent-service with a new pid")
    assert after["restarts"] == before["restarts"] + 1
    wait_until(lambda: healthy(PORTS["AGENTPIPE_AGENT_SERVICE_PORT"]), 30, "the restarted agent-service is healthy")
    assert "handlers" in " ".join(psutil.Process(after["pid"]).cmdline())
    log = (state_dir / "logs" / "supervisor.log").read_text()
    restart_lines = [line for line in log.splitlines() if "agent-service" in line and "restart" in line]
    assert restart_lines, f"no restart of agent-service in supervisor.log:\n{log[-2000:]}"
    assert read_status(state_dir)["state"] == "ready"

    code, output, _ = agentpipe("down", env=env)
    assert code == 0, output
    assert_nothing_left(state_dir)


def test_up_on_a_stack_with_a_hung_restate_fails_in_one_line(state_dir):
    """Errors after the supervisor is ready (topics, deployments, subscriptions) are causes, not tracebacks."""
    env = stack_env(state_dir)
    up_ready(state_dir, env)
    # Accepts connections, never answers: the admin API calls of `up` time out. (A hung deployment
    # no longer does: the registered code revision is not discovered again.)
    hung = read_status(state_dir)["components"]["restate"]["pid"]
    os.kill(hung, signal.SIGSTOP)
    try:
        code, output, seconds = agentpipe("up", "--timeout", "20", env=env, timeout=180)
    finally:
        os.kill(hung, signal.SIGCONT)
    assert code != 0, output
    assert "Traceback" not in output, f"`up` ended with a traceback after {seconds:.0f}s:\n{output[-3000:]}"
    lines = lines_of(output)
    assert len(lines) == 1, f"expected a one-line cause:\n{output}"
    admin = str(PORTS["AGENTPIPE_RESTATE_ADMIN_PORT"])
    assert "restate" in lines[0] and admin in lines[0], f"the cause must name what hangs: {lines[0]}"

    code, output, _ = agentpipe("down", env=env)
    assert code == 0, output
    assert_nothing_left(state_dir)


# -- failures before anything starts -------------------------------------------


def path_without_java(bin_dir: Path) -> str:
    """A PATH with every program of the current one except `java`."""
    bin_dir.mkdir()
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not directory or not Path(directory).is_dir():
            continue
        for program in Path(directory).iterdir():
            target = bin_dir / program.name
            if program.name == "java" or target.exists() or target.is_symlink():
                continue
            if program.is_file() and os.access(program, os.X_OK):
                target.symlink_to(program.resolve())
    return str(bin_dir)


def test_missing_java_is_a_one_line_cause(state_dir, tmp_path):
    path = path_without_java(tmp_path / "bin")
    env = stack_env(state_dir, PATH=path)
    env.pop("JAVA_HOME", None)
    check = subprocess.run(
        [sys.executable, "-c", "import shutil; print(shutil.which('java'))"], env=env, capture_output=True, text=True
    )
    assert check.stdout.strip() == "None", "the test PATH still has java"

    code, output, _ = agentpipe("up", env=env, timeout=120)
    assert code != 0, output
    assert "Traceback" not in output, output
    lines = lines_of(output)
    assert len(lines) == 1, f"expected a one-line cause, got {len(lines)} lines:\n{output}"
    assert "kafka" in lines[0] and "java" in lines[0], lines[0]
    assert_nothing_left(state_dir)


@pytest.mark.parametrize(
    "component, variable",
    [
        ("kafka", "AGENTPIPE_KAFKA_PORT"),
        ("restate", "AGENTPIPE_RESTATE_NODE_PORT"),
        # restate-server's ingress and admin API listen on Unix sockets; the front takes their ports.
        ("front", "AGENTPIPE_RESTATE_ADMIN_PORT"),
    ],
)
def test_taken_port_names_component_port_and_pid(state_dir, component, variable):
    port = PORTS[variable]
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        code, output, _ = agentpipe("up", env=stack_env(state_dir), timeout=120)
    assert code != 0, output
    assert "Traceback" not in output, output
    lines = lines_of(output)
    assert len(lines) == 1, f"expected a one-line cause, got {len(lines)} lines:\n{output}"
    assert component in lines[0] and str(port) in lines[0] and str(os.getpid()) in lines[0], lines[0]
    assert_nothing_left(state_dir)


def _log_tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"
