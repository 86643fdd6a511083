"""compose.yaml agrees with agentpipe.settings, docs/contract.md and the local stack's Restate config.

No Docker engine is needed: Debian's ``docker-compose`` (v1) validates the file and
prints it normalized (anchors merged, variables resolved with their defaults). v1 has
no JSON output, so the YAML is read with the interpreter docker-compose itself runs
on (v1 is a Python program built on PyYAML); agentpipe does not depend on PyYAML.
Which services `up` would start (profiles, their dependencies) is asked of docker-compose's
own project code in that interpreter, with a stand-in for the Docker client.

These tests do not use the session ``stack`` fixture.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from agentpipe.settings import Settings
from handlers.catalog import PATTERNS
from stack.cluster import KAFKA_HEAP, restate_node_config
from stack.components import restate_config
from stack.installs import RESTATE_VERSION
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose.yaml"
CONTRACT = ROOT / "docs" / "contract.md"

# docs/contract.md, "Ports" and "Topics" (the external contract), transcribed.
DESIGN_PORTS = {
    "kafka_port": 9092,
    "kafka_controller_port": 9093,
    "restate_ingress_port": 8080,
    "restate_admin_port": 9070,
    "agent_service_port": 9080,
    "remote_agents_port": 9081,
    "offline_model_port": 9099,
}
DESIGN_TOPIC_PREFIX = "agent."
# docs/contract.md's wording for each port in its "Default ports:" sentence.
DESIGN_PORT_WORDS = {
    "kafka_port": r"Kafka (\d+)",
    "kafka_controller_port": r"controller (\d+)",
    "restate_ingress_port": r"Restate ingress (\d+)",
    "restate_admin_port": r"admin (\d+)",
    "agent_service_port": r"agent service (\d+)",
    "remote_agents_port": r"remote agents (\d+)",
    "offline_model_port": r"offline model (\d+)",
}

PYTHON_SERVICES = {
    # service: (command after `python -m`, the settings field of its port)
    "offline-model": ("offline_model", "offline_model_port"),
    "agent-service": ("handlers", "agent_service_port"),
    "remote-agents": ("handlers.remote_agents", "remote_agents_port"),
    "init": ("stack.init", None),
    "keys": ("stack.secrets", None),
    "topic-gate": ("subscriptions.gate", None),
}
# The front of restate-server's ingress and admin API (stack/front.py): the host reaches Restate through it.
SERVICES = {"kafka", "restate", "front", *PYTHON_SERVICES}
# The services that use a secret, and which (every other service gets none).
USES_APPROVAL_KEY = {"agent-service", "agent-service-2", "topic-gate"}  # the gate checks signatures
USES_LLM_KEY = {"agent-service", "agent-service-2", "remote-agents"}
ONE_SHOTS = {"init", "keys"}
# What a user puts into .env (compose has no default key on purpose).
USER_APPROVAL_KEY = "bbb57bdb38ba8450c0686acf99e0b69c04a7e79ae7236e254378b785343b702e"  # test only: made by the user

# docker-compose validates the file: end to end, like the stack.
pytestmark = pytest.mark.stack


def _clean_env() -> dict[str, str]:
    """The environment without anything that would change the defaults under test."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AGENTPIPE_", "OPENAI_", "COMPOSE_"))}


@pytest.fixture(scope="module")
def compose_bin() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        pytest.fail(
            "docker-compose is not installed: install Debian's docker-compose package "
            "(`apt-get install docker-compose`; `./dev test` does it) to validate compose.yaml",
            pytrace=False,
        )
    return path


def _compose_env(approval_key: str | None = USER_APPROVAL_KEY, **extra: str) -> dict[str, str]:
    return _clean_env() | ({"AGENTPIPE_APPROVAL_KEY": approval_key} if approval_key is not None else {}) | extra


def _compose(
    compose_bin: str, *args: str, approval_key: str | None = USER_APPROVAL_KEY, **extra_env: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [compose_bin, "-f", str(COMPOSE_FILE), *args],
        cwd=ROOT,
        env=_compose_env(approval_key, **extra_env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def _compose_python(compose_bin: str) -> list[str]:
    """The interpreter docker-compose v1 runs on (it has PyYAML and docker-compose's own modules)."""
    shebang = Path(compose_bin).read_text(errors="replace").splitlines()[0]
    assert shebang.startswith("#!"), f"{compose_bin} is not docker-compose v1 (a Python script): {shebang!r}"
    return shebang[2:].strip().split()


# What `docker-compose [--env-file F] [--profile P] up` would start: docker-compose's own profile and
# dependency resolution (Project.get_services, as `up` calls it), with a stand-in Docker client.
UP_SERVICES = """
import json, sys
from unittest import mock
from compose.cli import command
options = json.loads(sys.argv[1])
with mock.patch.object(command, "get_client", return_value=mock.MagicMock(name="docker client")):
    project = command.project_from_options(".", options)
print(json.dumps([service.name for service in project.get_services(include_deps=True)]))
"""


def _up_services(compose_bin: str, *options: str, **extra_env: str) -> set[str]:
    parsed: dict[str, object] = {"--file": [str(COMPOSE_FILE)], "--profile": []}
    args = list(options)
    while args:
        option, value = args.pop(0), args.pop(0)
        if option == "--profile":
            parsed["--profile"].append(value)  # type: ignore[union-attr]
        else:
            parsed[option] = value
    done = subprocess.run(
        [*_compose_python(compose_bin), "-c", UP_SERVICES, json.dumps(parsed)],
        cwd=ROOT,
        env=_compose_env(**extra_env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, (
        f"docker-compose could not resolve the services of `up {' '.join(options)}`:\n{done.stderr}"
    )
    return set(json.loads(done.stdout))


def _resolved(compose_bin: str, *options: str, **extra_env: str) -> dict:
    """compose.yaml as docker-compose resolves it (with ``options``, e.g. an env file), as a dict;
    ``services`` holds only the services `up` would start, ``all_services`` every one."""
    done = _compose(compose_bin, *options, "config", **extra_env)
    assert done.returncode == 0, f"docker-compose config failed:\n{done.stderr}"
    interpreter = _compose_python(compose_bin)
    to_json = subprocess.run(
        [*interpreter, "-c", "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"],
        input=done.stdout,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert to_json.returncode == 0, f"could not read docker-compose's YAML with {interpreter}: {to_json.stderr}"
    resolved = json.loads(to_json.stdout)
    started = _up_services(compose_bin, *options, **extra_env)
    resolved["all_services"] = resolved["services"]
    resolved["services"] = {name: service for name, service in resolved["services"].items() if name in started}
    return resolved


@pytest.fixture(scope="module")
def config(compose_bin) -> dict:
    """The default topology: `docker compose up` with no profile."""
    return _resolved(compose_bin)


@pytest.fixture(scope="module")
def defaults() -> Settings:
    """Settings as they are with no AGENTPIPE_*/OPENAI_* variables (the documented defaults)."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith(("AGENTPIPE_", "OPENAI_")):
                mp.delenv(name)
        mp.setenv("AGENTPIPE_STATE_DIR", "/nonexistent-agentpipe-state")  # no approval.key picked up
        return Settings()


def _published(service: dict) -> dict[int, int]:
    """Host port → container port."""
    ports = {}
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            ports[int(entry["published"])] = int(entry["target"])
            continue
        spec = str(entry).split("/")[0]
        parts = spec.split(":")
        assert len(parts) >= 2, f"port {entry!r} is not published on a fixed host port"
        ports[int(parts[-2])] = int(parts[-1])
    return ports


def _env(service: dict) -> dict:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def _mounts(service: dict) -> dict[str, str]:
    """Container path → source (host path or volume name)."""
    mounts = {}
    for entry in service.get("volumes", []):
        if isinstance(entry, dict):
            mounts[entry["target"]] = entry["source"]
        else:
            source, target = str(entry).split(":")[:2]
            mounts[target] = source
    return mounts


# -- the file as a whole -------------------------------------------------------


def test_compose_file_is_valid_without_warnings(compose_bin):
    done = _compose(compose_bin, "config", "-q")
    assert done.returncode == 0, f"docker-compose config -q failed:\n{done.stderr}"
    # Warnings such as "The X variable is not set. Defaulting to a blank string." mean a
    # variable without a default: the file would not work on a fresh machine.
    assert done.stderr.strip() == "", f"docker-compose config printed warnings:\n{done.stderr}"


def test_compose_has_no_default_approval_key(compose_bin):
    done = _compose(compose_bin, "config", "-q", approval_key=None)
    assert done.returncode != 0 and "set AGENTPIPE_APPROVAL_KEY" in done.stderr, done.stderr
    assert "AGENTPIPE_APPROVAL_KEY:-" not in COMPOSE_FILE.read_text(), "no default key in the repository"


def test_services_images_and_build(config):
    services = config["services"]
    assert set(services) == SERVICES
    pom = ET.parse(ROOT / "stack" / "pom.xml").getroot()
    kafka_version = pom.find(
        "{http://maven.apache.org/POM/4.0.0}properties/{http://maven.apache.org/POM/4.0.0}kafka.version"
    ).text
    assert services["kafka"]["image"] == f"apache/kafka:{kafka_version}", (
        "same Kafka as the local stack (stack/pom.xml)"
    )
    assert services["restate"]["image"] == f"docker.io/restatedev/restate:{RESTATE_VERSION}", (
        "same restate-server as the local stack (stack/installs.py)"
    )
    images = set()
    for name in PYTHON_SERVICES:
        build = services[name].get("build")
        assert build, f"{name} must be built from the repository"
        context = build["context"] if isinstance(build, dict) else build
        assert Path(context).resolve() == ROOT, f"{name} builds from {context}, not the repository root"
        images.add(services[name].get("image"))
    assert len(images) == 1, f"the Python services should share one image, got {images}"

    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.M), "Dockerfile must build on python:3.11-slim"
    assert re.search(r"pip install (--no-deps )?\.", dockerfile), "Dockerfile must `pip install .` the project"
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", ".agentpipe", ".git"} <= ignored, "local state and the virtualenv stay out of the image"


# -- ports -----------------------------------------------------------------------


def test_settings_defaults_are_the_ports_and_prefix_of_the_contract(defaults):
    for field, port in DESIGN_PORTS.items():
        assert getattr(defaults, field) == port, f"settings.{field} is not docs/contract.md's {port}"
    assert defaults.topic_prefix == DESIGN_TOPIC_PREFIX


def test_contract_document_states_the_transcribed_ports_topics_and_handlers():
    """The transcription above matches what users read in docs/contract.md."""
    assert CONTRACT.exists(), f"{CONTRACT} is missing: it is the contract users read"
    text = " ".join(CONTRACT.read_text().split())
    sentence = re.search(r"Default ports:(.*?)\. All configurable", text)
    assert sentence, f"{CONTRACT} has no 'Default ports: ... . All configurable' sentence"
    for field, pattern in DESIGN_PORT_WORDS.items():
        found = re.search(pattern, sentence.group(1))
        assert found and int(found.group(1)) == DESIGN_PORTS[field], f"{CONTRACT}: {field}"
    assert f"Prefix `{DESIGN_TOPIC_PREFIX}` is the default" in text
    for pattern in PATTERNS.values():
        for name in (
            f"{DESIGN_TOPIC_PREFIX}requests.{pattern.name}",
            f"{DESIGN_TOPIC_PREFIX}results.{pattern.name}",
            f"{pattern.service}/{pattern.handler}",
        ):
            assert f"`{name}`" in text, f"{CONTRACT} does not name `{name}` ({pattern.name})"


def test_host_ports_are_the_defaults(config, defaults):
    services = config["services"]
    expected = {
        "kafka": {defaults.kafka_port},
        "restate": set(),  # reached through the front
        "front": {defaults.restate_ingress_port, defaults.restate_admin_port},
        "offline-model": {defaults.offline_model_port},
        "agent-service": {defaults.agent_service_port},
        "remote-agents": {defaults.remote_agents_port},
        "init": set(),
    }
    for name, ports in expected.items():
        assert set(_published(services[name])) == ports, f"{name} publishes {_published(services[name])}"
    # Inside the containers our processes listen on the settings' default ports.
    for name, (_module, field) in PYTHON_SERVICES.items():
        if field:
            port = getattr(defaults, field)
            assert _published(services[name]) == {port: port}


def test_kafka_listeners_serve_containers_and_host(config, defaults):
    kafka = config["services"]["kafka"]
    env = {k: str(v) for k, v in _env(kafka).items()}
    listeners = dict(re.match(r"(\w+)://[^:]*:(\d+)$", item).groups() for item in env["KAFKA_LISTENERS"].split(","))
    advertised = dict(
        re.match(r"(\w+)://(.+)$", item).groups() for item in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    )
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))

    # Containers: the bootstrap address the services are given is advertised as such.
    bootstrap = _env(config["services"]["agent-service"])["AGENTPIPE_KAFKA_BOOTSTRAP"]
    internal = [name for name, address in advertised.items() if address == bootstrap]
    assert internal, f"no listener advertises {bootstrap} (advertised: {advertised})"
    assert listeners[internal[0]] == bootstrap.split(":")[1], "the internal listener binds the advertised port"

    # Host: localhost:<published> is advertised by the listener the published port leads to.
    ((published, target),) = _published(kafka).items()
    host = [name for name, port in listeners.items() if int(port) == target]
    assert host, f"host port {published} leads to container port {target}, where no listener binds"
    assert advertised.get(host[0]) == f"localhost:{published}", (
        f"listener {host[0]} must advertise localhost:{published} so host clients reconnect to the published port"
    )

    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert int(listeners[controller]) == defaults.kafka_controller_port
    assert all(protocols[name] == "PLAINTEXT" for name in listeners), "restate_config speaks PLAINTEXT to Kafka"
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false", "like the local stack: topics come from subscriptions/"
    assert "/var/lib/kafka/data" in _mounts(kafka) and env["KAFKA_LOG_DIRS"] == "/var/lib/kafka/data"


# -- Restate -----------------------------------------------------------------------


def test_restate_config_is_the_local_stacks(config, defaults):
    restate = config["services"]["restate"]
    command = restate["command"]
    command = command.split() if isinstance(command, str) else command
    assert "--config-file" in command, "restate-server must be started with the mounted config"
    path = command[command.index("--config-file") + 1]
    source = _mounts(restate).get(path)
    assert source, f"{path} is not mounted into the restate container"
    text = Path(source if Path(source).is_absolute() else ROOT / source).read_text()
    mounted = tomllib.loads(text)

    identity_key = mounted["worker"]["invoker"]["request-identity-private-key-pem-file"]
    container_defaults = defaults.model_copy(update={"bind_host": "0.0.0.0"})  # containers listen on all
    expected = tomllib.loads(restate_config(container_defaults, mounted.get("base-dir", ""), identity_key))
    assert mounted == expected, (
        "deploy/restate.toml differs from stack/components.py:restate_config(Settings(bind_host='0.0.0.0'), "
        "base_dir, identity_key_file); regenerate it (see its header)"
    )
    assert mounted["base-dir"] in _mounts(restate), "Restate's base-dir must be a volume (journal survives restarts)"
    state_volume = _mounts(restate).get("/agentpipe-state")
    assert state_volume and identity_key.startswith("/agentpipe-state/"), "restate signs with the key `keys` made"
    assert state_volume == _mounts(config["services"]["keys"])["/agentpipe-state"]

    # The Kafka cluster is registered by init through the admin API, under the name subscriptions use.
    assert "kafka-clusters" not in mounted.get("ingress", {})
    for name in PYTHON_SERVICES:
        assert _env(config["services"][name])["AGENTPIPE_RESTATE_KAFKA_CLUSTER"] == defaults.restate_kafka_cluster

    bound = {int(mounted[section]["bind-address"].rsplit(":", 1)[1]) for section in ("admin", "ingress")}
    backends = {
        int(backend.rsplit(":", 1)[1]) for _kind, backend in _front_routes(config["services"]["front"]).values()
    }
    assert backends == bound, "the front leads to Restate's admin and ingress"
    assert not _published(restate), "the host reaches restate-server through the front only"


# -- our services ----------------------------------------------------------------


def test_service_environment_points_at_service_names(config, defaults):
    services = config["services"]
    expected = {
        "AGENTPIPE_KAFKA_BOOTSTRAP": "kafka:9092",
        "AGENTPIPE_RESTATE_ADMIN_URL": f"http://restate:{defaults.restate_admin_port}",
        "AGENTPIPE_RESTATE_INGRESS_URL": f"http://restate:{defaults.restate_ingress_port}",
        "AGENTPIPE_AGENT_SERVICE_URL": f"http://agent-service:{defaults.agent_service_port}",
        "AGENTPIPE_REMOTE_AGENTS_URL": f"http://remote-agents:{defaults.remote_agents_port}",
        "AGENTPIPE_RESTATE_KAFKA_CLUSTER": defaults.restate_kafka_cluster,
        "AGENTPIPE_TOPIC_PREFIX": DESIGN_TOPIC_PREFIX,
        "OPENAI_BASE_URL": f"http://offline-model:{defaults.offline_model_port}/v1",
    }
    keys = set()
    for name in PYTHON_SERVICES:
        env = _env(services[name])
        for key, value in expected.items():
            assert env.get(key) == value, f"{name}: {key}={env.get(key)!r}, expected {value!r}"
        if name in USES_LLM_KEY:
            assert "OPENAI_API_KEY" in env and env["OPENAI_API_KEY"] in (None, ""), (
                f"{name}: OPENAI_API_KEY must be passed through from the environment, not fixed"
            )
        else:
            assert "OPENAI_API_KEY" not in env, f"{name} does not call the model: no API key"
        if name in USES_APPROVAL_KEY:
            assert env.get("AGENTPIPE_APPROVAL_KEY") == USER_APPROVAL_KEY, f"{name}: the key comes from the user"
            keys.add(env["AGENTPIPE_APPROVAL_KEY"])
        else:
            assert "AGENTPIPE_APPROVAL_KEY" not in env, f"{name} checks no decision: no approval key"
    assert len(keys) == 1, "the agent service checks approvals with the user's key"

    # The variable names are real settings: the services see what compose means.
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith(("AGENTPIPE_", "OPENAI_")):
                mp.delenv(name)
        for key, value in _env(services["agent-service"]).items():
            if value is not None:
                mp.setenv(key, str(value))
        seen = Settings()
    assert seen.kafka_bootstrap == "kafka:9092"
    assert seen.restate_admin_url == expected["AGENTPIPE_RESTATE_ADMIN_URL"]
    assert seen.agent_service_url == expected["AGENTPIPE_AGENT_SERVICE_URL"]
    assert seen.remote_agents_url == expected["AGENTPIPE_REMOTE_AGENTS_URL"]
    assert seen.llm_base_url == expected["OPENAI_BASE_URL"]
    assert seen.topic_prefix == DESIGN_TOPIC_PREFIX and seen.restate_kafka_cluster == defaults.restate_kafka_cluster
    assert seen.approval_secret, "the approval key reaches the settings"


def test_commands_healthchecks_and_start_order(config, defaults):
    services = config["services"]
    for name, (module, field) in PYTHON_SERVICES.items():
        command = services[name]["command"]
        command = command.split() if isinstance(command, str) else command
        assert command[:3] == ["python", "-m", module], f"{name} runs {command}"
        if field:
            port = getattr(defaults, field)
            if "--port" in command:
                assert int(command[command.index("--port") + 1]) == port
            test = " ".join(services[name]["healthcheck"]["test"])
            assert f"127.0.0.1:{port}/health" in test, f"{name}'s healthcheck does not probe its port: {test}"
    assert "--host" in services["offline-model"]["command"] and "0.0.0.0" in services["offline-model"]["command"], (
        "the offline model listens on 127.0.0.1 by default; other containers need 0.0.0.0"
    )

    for name in SERVICES - ONE_SHOTS - {"topic-gate"}:
        health = services[name].get("healthcheck", {})
        assert health.get("test") and not health.get("disable"), f"{name} needs a healthcheck"

    def waits_for(name: str) -> dict[str, str]:
        return {dep: cond["condition"] for dep, cond in services[name].get("depends_on", {}).items()}

    assert waits_for("init") == {s: "service_healthy" for s in ("kafka", "restate", "agent-service", "remote-agents")}
    assert waits_for("restate").get("kafka") == "service_healthy", "Restate's Kafka ingress needs the broker"
    for one_shot in ONE_SHOTS:
        assert str(services[one_shot].get("restart", "no")) == "no", f"{one_shot} is a one-shot"
    for name in ("restate", "agent-service", "remote-agents"):
        assert waits_for(name).get("keys") == "service_completed_successfully", f"{name} needs the identity keys"
    assert waits_for("topic-gate") == {"init": "service_completed_successfully"}
    restate_test = " ".join(services["restate"]["healthcheck"]["test"])
    assert f":{defaults.restate_admin_port}/health" in restate_test
    assert f":{defaults.restate_ingress_port}/restate/health" in restate_test


def test_init_entry_point_gives_up_with_a_one_line_cause():
    """`python -m stack.init` (compose's init) retries, then names what did not answer; no traceback."""
    closed_port = free_port()
    env = {
        **_clean_env(),
        "AGENTPIPE_KAFKA_BOOTSTRAP": f"127.0.0.1:{closed_port}",
        "AGENTPIPE_STATE_DIR": "/nonexistent-agentpipe-state",
    }
    done = subprocess.run(
        [sys.executable, "-m", "stack.init", "--timeout", "3"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr + done.stdout
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("init: error: kafka:"), done.stderr
    assert f"127.0.0.1:{closed_port}" in errors[0]


def _front_routes(service: dict) -> dict[int, tuple[str, str]]:
    """The front's routes: the port it listens on → (kind, where restate-server answers)."""
    routes = json.loads(str(_env(service)["AGENTPIPE_FRONT_ROUTES"]))
    return {route["listen"]: (route["kind"], route["backend"]) for route in routes}


def test_the_front_stands_before_restate_with_no_secret(config, defaults):
    front = config["services"]["front"]
    assert front["command"] == ["python", "-m", "stack.front"]
    assert _front_routes(front) == {
        defaults.restate_ingress_port: ("ingress", f"http://restate:{defaults.restate_ingress_port}"),
        defaults.restate_admin_port: ("admin", f"http://restate:{defaults.restate_admin_port}"),
    }
    env = _env(front)
    assert env["AGENTPIPE_BIND_HOST"] == "0.0.0.0"
    assert not {"AGENTPIPE_APPROVAL_KEY", "OPENAI_API_KEY"} & set(env), "the front holds no secret"
    assert all(str(p).startswith("127.0.0.1:") for p in front.get("ports", [])), "loopback only"
    assert front["depends_on"]["restate"]["condition"] == "service_healthy"
    assert f"127.0.0.1:{defaults.restate_ingress_port}/restate/health" in " ".join(front["healthcheck"]["test"])


# -- the cluster profile ----------------------------------------------------------

CLUSTER_ENV_FILE = "deploy/cluster.env"
CLUSTER_ONLY = {
    "front-cluster",
    "cluster-check",
    "kafka-2",
    "kafka-3",
    "restate-2",
    "restate-3",
    "restate-provision",
    "agent-service-2",
    "balancer",
}
BROKERS = ("kafka", "kafka-2", "kafka-3")
RESTATE_NODES = ("restate", "restate-2", "restate-3")
AGENT_SERVICES = ("agent-service", "agent-service-2")


@pytest.fixture(scope="module")
def cluster(compose_bin) -> dict:
    """`docker compose --env-file deploy/cluster.env up`: the cluster profile with node 1 joined."""
    return _resolved(compose_bin, "--env-file", CLUSTER_ENV_FILE)


@pytest.fixture(scope="module")
def profile_alone(compose_bin) -> dict:
    """`docker compose --profile cluster up` without deploy/cluster.env: the mistake to refuse."""
    return _resolved(compose_bin, "--profile", "cluster")


def _mounted(service: dict, path: str) -> Path:
    source = _mounts(service)[path]
    return Path(source) if Path(source).is_absolute() else ROOT / source


def _waits_for(services: dict, name: str) -> dict[str, str]:
    return {dep: cond["condition"] for dep, cond in services[name].get("depends_on", {}).items()}


def _run_command(service: dict, **extra_env: str) -> subprocess.CompletedProcess:
    """Run a one-shot's `sh -c` command here, with the environment compose gives it (and only that)."""
    command = service["command"]
    assert command[:2] == ["sh", "-c"], command
    # `config` prints `$` as `$$` (compose's escape); the container's shell sees one.
    script = command[2].replace("$$", "$")
    env = {k: str(v) for k, v in _env(service).items() if v is not None}
    return subprocess.run(
        ["sh", "-c", script],
        env={"PATH": os.environ["PATH"], **env, **extra_env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_profiles_start_the_intended_services(compose_bin, config, cluster):
    """Every way to ask for the cluster validates without warnings and starts the same services;
    no profile starts today's single-node stack and nothing of the cluster."""
    for options, extra in (
        (("--env-file", CLUSTER_ENV_FILE), {}),
        (("--profile", "cluster"), {}),
        ((), {"COMPOSE_PROFILES": "cluster"}),
    ):
        done = _compose(compose_bin, *options, "config", "-q", **extra)
        assert done.returncode == 0 and done.stderr.strip() == "", (options, extra, done.stderr)
        assert _up_services(compose_bin, *options, **extra) == SERVICES | CLUSTER_ONLY, (options, extra)
    assert set(config["services"]) == SERVICES
    assert set(cluster["services"]) == SERVICES | CLUSTER_ONLY
    assert set(config["all_services"]) - set(config["services"]) == CLUSTER_ONLY, "alone, none of them start"
    for name in CLUSTER_ONLY:
        assert config["all_services"][name]["profiles"] == ["cluster"]
    # The env file is what turns the profile on, so `--env-file` alone is the whole switch.
    env_file = (ROOT / CLUSTER_ENV_FILE).read_text()
    assert re.search(r"^COMPOSE_PROFILES=cluster$", env_file, re.M)


def test_the_profile_without_its_env_file_is_refused_before_a_node_starts(cluster, profile_alone):
    """`--profile cluster` alone would add brokers 2-3 and Restate nodes 2-3 beside a single-node
    `kafka` and `restate` that are not their peers. Every node of the profile waits for
    `cluster-check`, which fails then, naming deploy/cluster.env; with the file it passes."""
    services = cluster["services"]
    for name in CLUSTER_ONLY - {"cluster-check"}:
        seen, todo = set(), [name]
        while todo:
            current = todo.pop()
            for dep, condition in _waits_for(services, current).items():
                if dep == "cluster-check":
                    assert condition == "service_completed_successfully", (current, condition)
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        assert "cluster-check" in seen, f"{name} can start without cluster-check"
    for name in ("kafka-2", "kafka-3", "restate-2", "restate-3", "agent-service-2"):
        assert "cluster-check" in _waits_for(services, name), f"{name} must wait for cluster-check itself"
    assert str(services["cluster-check"].get("restart")) == "no", "a one-shot"

    refused = _run_command(profile_alone["services"]["cluster-check"])
    assert refused.returncode != 0 and "--env-file deploy/cluster.env" in refused.stderr, refused
    passed = _run_command(services["cluster-check"])
    assert passed.returncode == 0 and passed.stderr == "", passed


def test_cluster_brokers_form_one_kraft_quorum_with_replication_three(cluster, config, defaults):
    services = cluster["services"]
    envs = {name: {k: str(v) for k, v in _env(services[name]).items()} for name in BROKERS}
    voters = {env["KAFKA_CONTROLLER_QUORUM_VOTERS"] for env in envs.values()}
    assert voters == {"1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093"}
    assert {env["CLUSTER_ID"] for env in envs.values()} == {_env(services["kafka"])["CLUSTER_ID"]}
    assert sorted(int(env["KAFKA_NODE_ID"]) for env in envs.values()) == [1, 2, 3]
    for name, env in envs.items():
        node = int(env["KAFKA_NODE_ID"])
        assert f"{node}@{name}:9093" in env["KAFKA_CONTROLLER_QUORUM_VOTERS"], f"{name} is voter {node}"
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3" and env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        for internal in ("OFFSETS_TOPIC", "TRANSACTION_STATE_LOG", "SHARE_COORDINATOR_STATE_TOPIC"):
            assert env[f"KAFKA_{internal}_REPLICATION_FACTOR"] == "3", f"{name}: {internal}"
        for internal in ("TRANSACTION_STATE_LOG", "SHARE_COORDINATOR_STATE_TOPIC"):
            assert env[f"KAFKA_{internal}_MIN_ISR"] == "2", f"{name}: {internal}"
        # Three JVMs on one machine: the local cluster's heap.
        assert env["KAFKA_HEAP_OPTS"] == " ".join(KAFKA_HEAP), f"{name}: {env['KAFKA_HEAP_OPTS']}"
        # The host reaches broker i on the port the local cluster uses, advertised as such.
        ((published, target),) = _published(services[name]).items()
        assert published == defaults.broker_port(node - 1) and target == 19092
        assert f"HOST://localhost:{published}" in env["KAFKA_ADVERTISED_LISTENERS"]
        assert f"INTERNAL://{name}:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert len({_mounts(services[name])["/var/lib/kafka/data"] for name in BROKERS}) == 3, "a volume per broker"
    # Alone, the broker keeps Kafka's own default heap (an empty KAFKA_HEAP_OPTS is unset to its start script).
    assert _env(config["services"]["kafka"])["KAFKA_HEAP_OPTS"] in ("", None)


def test_cluster_restate_nodes_form_one_cluster_that_waits_to_be_provisioned(cluster, config, defaults):
    services = cluster["services"]
    configs, names, advertised = [], set(), []
    for name in RESTATE_NODES:
        service = services[name]
        configs.append(tomllib.loads(_mounted(service, "/etc/restate/restate.toml").read_text()))
        env = _env(service)
        names.add(env["RESTATE_NODE_NAME"])
        advertised.append(env["RESTATE_ADVERTISED_ADDRESS"])
        assert env["RESTATE_ADVERTISED_ADDRESS"] == f"http://{name}:5122/"
        # Nobody provisions itself: neither the file nor the environment turns it on.
        assert "RESTATE_AUTO_PROVISION" not in env, f"{name}: restate-provision is the one provisioner"
        assert not _published(service), f"{name}: reached through the front, not published"
        assert service["image"] == f"docker.io/restatedev/restate:{RESTATE_VERSION}"
        # The same request-identity key on every node: the one `keys` made.
        identity_key = configs[-1]["worker"]["invoker"]["request-identity-private-key-pem-file"]
        assert identity_key.startswith("/agentpipe-state/")
        assert _mounts(service)["/agentpipe-state"] == _mounts(services["keys"])["/agentpipe-state"]
    assert names == {"node-1", "node-2", "node-3"}
    assert all(c == configs[0] for c in configs), "one config file for every node"
    mounted = configs[0]
    assert mounted["cluster-name"] == "agentpipe" and mounted["auto-provision"] is False
    assert mounted["default-replication"] == 2
    assert mounted["metadata-client"]["addresses"] == advertised

    # The cluster keys are the local cluster's; everything else is deploy/restate.toml's.
    local = tomllib.loads(restate_node_config(defaults, 0, "/restate-data", "/agentpipe-state/request-identity.pem"))
    for key in ("cluster-name", "default-replication", "auto-provision", "rocksdb-total-memory-size"):
        assert mounted[key] == local[key], key
    single = tomllib.loads((ROOT / "deploy" / "restate.toml").read_text())
    cluster_keys = {"node-name", "advertised-address", "cluster-name", "auto-provision", "default-replication"}
    cluster_keys |= {"metadata-client"}
    assert {k: v for k, v in mounted.items() if k not in cluster_keys} == {
        k: v for k, v in single.items() if k not in cluster_keys
    }
    assert len({_mounts(services[name])["/restate-data"] for name in RESTATE_NODES}) == 3, "a volume per node"

    # Alone, restate-server provisions itself (its default): nothing turns that off.
    assert "auto-provision" not in single and "RESTATE_AUTO_PROVISION" not in _env(config["services"]["restate"])


def test_cluster_is_provisioned_once_by_the_restate_provision_one_shot(cluster):
    services = cluster["services"]
    provision = services["restate-provision"]
    assert provision["image"] == services["restate"]["image"], "restatectl of the same Restate release"
    assert str(provision.get("restart")) == "no", "a one-shot"
    assert provision["entrypoint"] == ["sh", "/restate-provision.sh"]
    assert _mounted(provision, "/restate-provision.sh") == ROOT / "deploy" / "restate-provision.sh"
    nodes = [_env(services[name])["RESTATE_ADVERTISED_ADDRESS"] for name in RESTATE_NODES]
    assert _env(provision)["RESTATECTL_ADDRESS"] == ",".join(nodes)
    assert _waits_for(services, "restate-provision") == {name: "service_started" for name in RESTATE_NODES}, (
        "the nodes answer only once provisioned, so it cannot wait for them to be healthy"
    )
    # init waits for node 1 to be healthy, which it is only once provisioned; it does not provision.
    assert _waits_for(services, "init")["restate"] == "service_healthy"
    assert _env(services["init"])["AGENTPIPE_CLUSTER_PROVISIONING"] == "external"


PROVISION_SCRIPT = ROOT / "deploy" / "restate-provision.sh"
FAKE_RESTATECTL = """#!/bin/sh
echo "$*" >> "$CALLS"
n=$(wc -l < "$CALLS")
case "$MODE" in
  ok-third) [ "$n" -ge 3 ] && { echo "Cluster provisioned"; exit 0; }; echo "error: connection refused" >&2; exit 1 ;;
  already) echo "Error: the cluster is Already Provisioned" >&2; exit 1 ;;
  never) echo "error: node unreachable" >&2; exit 1 ;;
esac
"""


@pytest.mark.parametrize(
    ("mode", "code", "calls", "says"),
    [
        ("ok-third", 0, 3, "cluster provisioned (attempt 3)"),
        ("already", 0, 1, "already provisioned"),
        ("never", 1, 4, "gave up after 4 attempts: error: node unreachable"),
    ],
)
def test_provision_script_retries_until_provisioned(tmp_path, mode, code, calls, says):
    """deploy/restate-provision.sh with stand-ins for restatectl and sleep, in the image's shell (dash)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("restatectl", FAKE_RESTATECTL), ("sleep", "#!/bin/sh\nexit 0\n")):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    addresses = "http://restate:5122/,http://restate-2:5122/,http://restate-3:5122/"
    done = subprocess.run(
        ["sh", str(PROVISION_SCRIPT)],
        env={
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "RESTATECTL_ADDRESS": addresses,
            "PROVISION_ATTEMPTS": "4",
            "CALLS": str(tmp_path / "calls"),
            "MODE": mode,
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == code, done
    assert says in done.stdout + done.stderr, done
    made = (tmp_path / "calls").read_text().splitlines()
    assert made == [f"provision --address {addresses} --yes"] * calls


def test_init_leaves_provisioning_to_the_one_shot(cluster, monkeypatch):
    """With compose's cluster environment `python -m stack.init` never runs restatectl (not in its image)."""
    import stack.init as init

    provisioned: list[bool] = []
    for name, value in (
        ("_kafka_answers", lambda *_a: None),
        ("ensure_topics", lambda **_k: []),
        ("_healthy", lambda *_a: None),
        ("register_deployment", lambda _uri: ["Service"]),
        ("ensure_kafka_cluster", lambda: "local"),
        ("sync_subscriptions", lambda: init.SyncReport([], [], [])),
        ("_cluster_answers", lambda *_a: provisioned.append(True)),
    ):
        monkeypatch.setattr(init, name, value)
    for name in list(os.environ):
        if name.startswith(("AGENTPIPE_", "OPENAI_")):
            monkeypatch.delenv(name)
    for key, value in _env(cluster["services"]["init"]).items():
        if value is not None:
            monkeypatch.setenv(key, str(value))
    init.get_settings.cache_clear()
    try:
        assert init.get_settings().topology == "cluster" and init.get_settings().kafka_replication == 3
        init.initialize(timeout=5)
        assert provisioned == [], "init ran restatectl in compose"
        monkeypatch.setenv("AGENTPIPE_CLUSTER_PROVISIONING", "restatectl")  # what `agentpipe up --cluster` uses
        init.get_settings.cache_clear()
        init.initialize(timeout=5)
        assert provisioned == [True]
    finally:
        init.get_settings.cache_clear()


def test_cluster_deployments_are_called_through_nginx(cluster):
    services = cluster["services"]
    conf = (ROOT / "deploy" / "nginx-cluster.conf").read_text()
    assert _mounted(services["balancer"], "/etc/nginx/nginx.conf") == ROOT / "deploy" / "nginx-cluster.conf"
    upstreams = dict(re.findall(r"upstream (\w+) \{(.*?)\}", conf, re.S))
    assert re.findall(r"server ([\w-]+):(\d+)", upstreams["agent_service"]) == [(s, "9080") for s in AGENT_SERVICES]
    assert re.findall(r"server ([\w-]+):(\d+)", upstreams["remote_agents"]) == [("remote-agents", "9081")]
    assert "listen 9080 http2" in conf and "listen 9081 http2" in conf
    assert "grpc_pass grpc://agent_service" in conf and "grpc_pass grpc://remote_agents" in conf
    for name in (*AGENT_SERVICES, "remote-agents"):
        assert _waits_for(services, "balancer")[name] == "service_healthy"
    # Every agent-service container nginx names exists and runs the same process from the same image.
    agent_containers = {name for name in services if name == "agent-service" or name.startswith("agent-service-")}
    assert agent_containers == set(AGENT_SERVICES)
    assert services["agent-service-2"]["command"] == services["agent-service"]["command"]
    assert services["agent-service-2"]["image"] == services["agent-service"]["image"]
    # restate-server reaches both deployments through nginx only.
    env = _env(services["init"])
    assert env["AGENTPIPE_AGENT_SERVICE_URL"] == "http://balancer:9080"
    assert env["AGENTPIPE_REMOTE_AGENTS_URL"] == "http://balancer:9081"


def test_nginx_config_is_accepted_by_nginx(tmp_path):
    """`nginx -t` on deploy/nginx-cluster.conf (Debian's nginx; the container runs nginx:1.27), with the
    container names pointed at 127.0.0.1 and nginx's own files in a temporary folder."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        pytest.fail("nginx is not installed: install Debian's nginx-light (`./dev test` does it)", pytrace=False)
    conf = (ROOT / "deploy" / "nginx-cluster.conf").read_text()
    for name in ("agent-service-2", "agent-service", "remote-agents"):
        conf = re.sub(rf"server {name}:", "server 127.0.0.1:", conf)
    run = tmp_path / "run"
    run.mkdir()
    temp_paths = "".join(
        f"  {kind}_temp_path {run / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = conf.replace("http {\n", "http {\n" + temp_paths, 1)
    conf = f"error_log {tmp_path / 'error.log'};\npid {run / 'nginx.pid'};\n" + conf
    (tmp_path / "nginx.conf").write_text(conf)
    done = subprocess.run(
        [nginx, "-t", "-q", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr


def test_cluster_services_share_one_environment_naming_every_broker(cluster):
    services = cluster["services"]
    names = [*PYTHON_SERVICES, "agent-service-2", "cluster-check"]
    secrets = {"AGENTPIPE_APPROVAL_KEY", "OPENAI_API_KEY"}  # only where used (checked with the single node)
    envs = [{k: v for k, v in _env(services[name]).items() if k not in secrets} for name in names]
    assert all(env == envs[0] for env in envs), "every agentpipe container sees the same settings"
    env = envs[0]
    assert env["AGENTPIPE_KAFKA_BOOTSTRAP"] == ",".join(f"{b}:9092" for b in BROKERS)
    assert env["AGENTPIPE_TOPOLOGY"] == "cluster" and env["AGENTPIPE_CLUSTER_PROVISIONING"] == "external"
    assert env["AGENTPIPE_AGENT_SERVICE_URL"] == "http://balancer:9080"
    assert env["AGENTPIPE_REMOTE_AGENTS_URL"] == "http://balancer:9081"
    env = _env(services["agent-service-2"])  # with its secrets, as the agent service sees them
    assert env["AGENTPIPE_APPROVAL_KEY"] == USER_APPROVAL_KEY
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith(("AGENTPIPE_", "OPENAI_")):
                mp.delenv(name)
        for key, value in env.items():
            if value is not None:
                mp.setenv(key, str(value))
        seen = Settings()
    assert seen.kafka_replication == 3, "init creates the topics with three replicas"
    assert seen.cluster_provisioning == "external"
    published = [p for s in cluster["services"].values() for p in _published(s)]
    assert len(published) == len(set(published)), "no host port twice"
    for service in cluster["services"].values():
        assert all(str(p).startswith("127.0.0.1:") for p in service.get("ports", [])), "loopback only"


def test_host_commands_find_the_compose_cluster_with_the_topology_alone(cluster):
    """On the host, AGENTPIPE_TOPOLOGY=cluster makes the defaults name what compose publishes:
    the three brokers (`agentpipe demo`) and each Restate node (`agentpipe cluster`)."""
    services = cluster["services"]
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith(("AGENTPIPE_", "OPENAI_")):
                mp.delenv(name)
        mp.setenv("AGENTPIPE_STATE_DIR", "/nonexistent-agentpipe-state")
        mp.setenv("AGENTPIPE_TOPOLOGY", "cluster")
        host = Settings()
    brokers = [int(address.rsplit(":", 1)[1]) for address in host.kafka_bootstrap.split(",")]
    assert brokers == [next(iter(_published(services[name]))) for name in BROKERS]
    fronts = {**_front_routes(services["front"]), **_front_routes(services["front-cluster"])}
    for index, name in enumerate(RESTATE_NODES):
        ingress, admin, _node = host.restate_ports(index)
        assert fronts[ingress] == ("ingress", f"http://{name}:8080"), name
        assert fronts[admin] == ("admin", f"http://{name}:9070"), name
    published = {**_published(services["front"]), **_published(services["front-cluster"])}
    assert published == {port: port for port in fronts}, "the front listens where the host calls"
