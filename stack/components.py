"""The processes of the local stack: how each is prepared, started and checked for health.

Order matters: Kafka first (restate-server's Kafka ingress connects to it), then
the offline model, restate-server, and the two deployments.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx

from agentpipe.kafka_config import client_config
from agentpipe.settings import Settings
from stack.errors import StackError
from stack.front import ROUTES_ENV, FrontRoute, reachable_socket
from stack.installs import STACK_DIR, kafka_classpath, restate_binaries
from stack.probes import http_ok
from stack.secrets import ensure_identity_keys


@dataclass
class Component:
    name: str
    ports: list[int]
    command: Callable[[], list[str]]
    healthy: Callable[[], bool]
    env: dict[str, str] = field(default_factory=dict)
    start_timeout_s: float = 60.0
    # The secrets of the supervisor's environment this process uses (SECRET_ENV): no other gets them.
    secrets: frozenset[str] = frozenset()

    def log_file(self, state_dir: Path) -> Path:
        return state_dir / "logs" / f"{self.name}.log"


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def kafka_ready(bootstrap: str) -> bool:
    from confluent_kafka.admin import AdminClient

    try:
        AdminClient(client_config(**{"bootstrap.servers": bootstrap})).list_topics(timeout=2)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False


# What a one-broker KRaft cluster needs: internal topics on the one replica, no join delay.
SINGLE_NODE_BROKER = [
    "offsets.topic.replication.factor=1",
    "transaction.state.log.replication.factor=1",
    "transaction.state.log.min.isr=1",
    "share.coordinator.state.topic.replication.factor=1",
    "share.coordinator.state.topic.min.isr=1",
    "group.initial.rebalance.delay.ms=0",
    # Topics come from subscriptions/; a typo must not silently create a new one.
    "auto.create.topics.enable=false",
]


def java_command(log_dir: Path, heap: list[str]) -> list[str]:
    """java with Kafka's classpath; the heap is given here (KAFKA_HEAP_OPTS is read only by Kafka's scripts)."""
    return [
        "java",
        *heap,
        "-XX:+UseG1GC",
        "-cp",
        kafka_classpath(log_dir),
        f"-Dlog4j2.configurationFile={STACK_DIR / 'log4j2.properties'}",
    ]


def kafka_properties(
    node_id: int,
    host: str,
    port: int,
    controller: int,
    quorum: str,
    data_dir: Path,
    settings: Settings,
    extra: list[str],
) -> str:
    """A combined broker and controller; ``quorum`` names the controllers, ``extra`` is what its role needs."""
    lines = [
        "process.roles=broker,controller",
        f"node.id={node_id}",
        quorum,
        f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "inter.broker.listener.name=PLAINTEXT",
        f"log.dirs={data_dir}",
        "num.partitions=1",
        *extra,
        f"message.max.bytes={settings.kafka_max_message_bytes}",
        "",
    ]
    return "\n".join(lines)


def format_kraft_storage(
    component: str, java: list[str], props: Path, data_dir: Path, cluster_id: str, log: Path, standalone: bool
) -> None:
    """Format KRaft storage once; a later `up` keeps the data."""
    if (data_dir / "meta.properties").exists():
        return
    with log.open("ab") as out:
        done = subprocess.run(
            [
                *java,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(props),
                *(["--standalone"] if standalone else []),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=120,
        )
    if done.returncode != 0:
        raise StackError(component, "formatting KRaft storage failed", log)


def _kafka_command(settings: Settings, state_dir: Path) -> list[str]:
    log_dir = state_dir / "logs"
    data_dir = state_dir / "kafka-data"
    props = state_dir / "kafka" / "server.properties"
    props.parent.mkdir(parents=True, exist_ok=True)
    quorum = f"controller.quorum.bootstrap.servers=127.0.0.1:{settings.kafka_controller_port}"
    props.write_text(
        kafka_properties(
            1,
            "127.0.0.1",
            settings.kafka_port,
            settings.kafka_controller_port,
            quorum,
            data_dir,
            settings,
            SINGLE_NODE_BROKER,
        )
    )
    java = java_command(log_dir, ["-Xms256m", "-Xmx768m"])
    format_kraft_storage(
        "kafka", java, props, data_dir, uuid.uuid4().hex[:22], log_dir / "kafka-format.log", standalone=True
    )
    return [*java, "kafka.Kafka", str(props)]


def _restate_command(settings: Settings, state_dir: Path) -> list[str]:
    server, _cli = restate_binaries(state_dir / "logs")
    identity_key, _public = ensure_identity_keys(state_dir)
    config = state_dir / "restate.toml"
    config.write_text(restate_config(settings, state_dir / "restate-data", identity_key, listen="unix"))
    # The node's own port on TCP only (its socket would be one more path under base-dir); ingress and
    # admin on Unix sockets, behind the front. restate-server names a socket relative to its working
    # folder, so a deep checkout stays within the 108 bytes of a socket path.
    return [str(server), "--config-file", str(config), "--no-logo", "--listen-mode", "tcp"]


Listen = Literal["tcp", "unix"]
# restate-server's name for the single node; its sockets are <base-dir>/<node-name>/*.sock.
SINGLE_NODE_NAME = "agentpipe"


def restate_sockets(base_dir: Path, node_name: str) -> tuple[Path, Path]:
    """Where a node listening on Unix sockets takes ingress and admin calls."""
    return base_dir / node_name / "ingress.sock", base_dir / node_name / "admin.sock"


def restate_config(
    settings: Settings, base_dir: Path | str, identity_key_file: Path | str, listen: Listen = "tcp"
) -> str:
    """restate-server's config; compose.yaml's copy is checked against the same settings.

    Every listener binds ``bind_host`` (127.0.0.1 unless widened). The server signs each
    request to the deployments with the identity key, so nothing else can speak to them.
    Ingress takes any record the broker can hold (a record it refused would stop the
    whole subscription); the handlers apply the smaller per-request limit. The Kafka cluster is
    registered through the admin API (stack/init.py), with the librdkafka options of the
    settings passed through. RocksDB gets 512 MiB instead of its 2 GiB default, like each
    cluster node: with 10,000 reviews waiting, restate-server's RSS peaked at 725 MB
    instead of 927 MB, and a closed loop ran no slower (README, Performance).
    """
    host = settings.bind_host
    return f"""\
node-name = "{SINGLE_NODE_NAME}"
base-dir = "{base_dir}"
bind-address = "{host}:{settings.restate_node_port}"
advertised-address = "http://127.0.0.1:{settings.restate_node_port}/"
disable-telemetry = true
default-num-partitions = {settings.restate_partitions}
rocksdb-total-memory-size = "512 MiB"
log-format = "json"

{restate_listeners(settings, settings.restate_admin_port, settings.restate_ingress_port, identity_key_file, listen)}"""


def restate_listeners(
    settings: Settings, admin: int, ingress: int, identity_key_file: Path | str, listen: Listen = "tcp"
) -> str:
    """The admin and ingress listeners and the invoker's settings, the same on every node.

    ``unix``: the local stack's, where they listen on Unix sockets under base-dir
    (``<base-dir>/<node-name>/ingress.sock``, ``admin.sock``) and the front (stack/front.py) takes
    the TCP ports; ``tcp``: compose's, on the container network.
    """
    host = settings.bind_host
    admin_at = 'listen-mode = "unix"' if listen == "unix" else f'bind-address = "{host}:{admin}"'
    ingress_at = 'listen-mode = "unix"' if listen == "unix" else f'bind-address = "{host}:{ingress}"'
    return f"""\
[admin]
{admin_at}

[ingress]
{ingress_at}
request-size-limit = "{settings.restate_ingress_limit_bytes} B"

[worker.invoker]
inactivity-timeout = "{settings.restate_inactivity_timeout}"
concurrent-invocations-limit = {settings.restate_invoker_limit}
request-identity-private-key-pem-file = "{identity_key_file}"
"""


def socket_http_ok(path: Path, url_path: str, timeout: float = 1.0) -> bool:
    """Whether an HTTP server on the Unix socket ``path`` answers ``url_path`` with a success."""
    try:
        transport = httpx.HTTPTransport(uds=reachable_socket(path))
        with httpx.Client(transport=transport, base_url="http://restate", timeout=timeout) as client:
            return client.get(url_path).is_success
    except (httpx.HTTPError, OSError, SystemExit):
        return False


def front_component(settings: Settings, routes: list[FrontRoute]) -> Component:
    """The front of restate-server's ingress and admin sockets (stack/front.py), on their TCP ports."""
    ports = [route.listen for route in routes]
    return Component(
        "front",
        ports,
        python_module("stack.front"),
        lambda: all(port_open(port) for port in ports),
        env={ROUTES_ENV: json.dumps([route.model_dump() for route in routes])},
    )


def python_module(module: str) -> Callable[[], list[str]]:
    return lambda: [sys.executable, "-m", module]


def shared_components(settings: Settings, state_dir: Path, *, before_restate: bool) -> list[Component]:
    """What both topologies run once: the offline model (before Restate) and the topic gate (last)."""
    env = {"AGENTPIPE_STATE_DIR": str(state_dir)}
    if before_restate:
        if not settings.uses_offline_model:
            return []
        return [
            Component(
                "offline-model",
                [settings.offline_model_port],
                python_module("offline_model"),
                lambda: http_ok(f"http://127.0.0.1:{settings.offline_model_port}/health"),
                env=env,
            )
        ]
    return [
        # No port: it copies the keyed topics' records Restate can take to their gated topics
        # (subscriptions/gate.py); it checks decisions' signatures, so it holds the approval key.
        Component(
            "topic-gate",
            [],
            python_module("subscriptions.gate"),
            lambda: True,
            env={**env, "PYTHONFAULTHANDLER": "1"},
            secrets=APPROVAL_KEY_ENV,
        ),
    ]


def single_node_components(settings: Settings, state_dir: Path) -> list[Component]:
    env = {"AGENTPIPE_STATE_DIR": str(state_dir)}
    components = [
        Component(
            "kafka",
            [settings.kafka_port, settings.kafka_controller_port],
            lambda: _kafka_command(settings, state_dir),
            lambda: kafka_ready(settings.kafka_bootstrap),
            start_timeout_s=90,
        ),
        *shared_components(settings, state_dir, before_restate=True),
    ]
    ingress_socket, admin_socket = restate_sockets(state_dir / "restate-data", SINGLE_NODE_NAME)
    components += [
        Component(
            "restate",
            [settings.restate_node_port],
            lambda: _restate_command(settings, state_dir),
            lambda: socket_http_ok(admin_socket, "/health") and socket_http_ok(ingress_socket, "/restate/health"),
            env={"RUST_BACKTRACE": "0"},
        ),
        front_component(
            settings,
            [
                FrontRoute(kind="ingress", listen=settings.restate_ingress_port, backend=f"unix:{ingress_socket}"),
                FrontRoute(kind="admin", listen=settings.restate_admin_port, backend=f"unix:{admin_socket}"),
            ],
        ),
        Component(
            "agent-service",
            [settings.agent_service_port],
            python_module("handlers"),
            lambda: http_ok(f"http://127.0.0.1:{settings.agent_service_port}/health"),
            env=env,
            secrets=AGENT_SERVICE_SECRETS,
        ),
        Component(
            "remote-agents",
            [settings.remote_agents_port],
            python_module("handlers.remote_agents"),
            lambda: http_ok(f"http://127.0.0.1:{settings.remote_agents_port}/health"),
            env=env,
            secrets=LLM_KEY_ENV,
        ),
        *shared_components(settings, state_dir, before_restate=False),
    ]
    return components


# Environment variables that hold secrets, and the components that use them: the approval key signs
# and checks decisions (the agent service), the API key calls the model (the services that call it).
APPROVAL_KEY_ENV = frozenset({"AGENTPIPE_APPROVAL_KEY"})
LLM_KEY_ENV = frozenset({"OPENAI_API_KEY", "AGENTPIPE_OPENAI_API_KEY"})
SECRET_ENV = APPROVAL_KEY_ENV | LLM_KEY_ENV
AGENT_SERVICE_SECRETS = APPROVAL_KEY_ENV | LLM_KEY_ENV


def child_env(component: Component) -> dict[str, str]:
    """The supervisor's environment for one component, without the secrets it does not use."""
    inherited = {k: v for k, v in os.environ.items() if k not in SECRET_ENV or k in component.secrets}
    return {**inherited, **component.env, "PYTHONUNBUFFERED": "1"}
