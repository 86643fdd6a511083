"""The cluster topology of the local stack: three Kafka brokers, three Restate nodes, several
agent-service processes and the remote agents behind nginx.

    clients ─▶ brokers kafka-1..3 (KRaft, each broker and controller; topics RF 3, min ISR 2)
    restate-1..3 (one cluster, replication 2; each consumes the subscriptions in one group)
        ─▶ nginx :agent_service_port ─▶ agent-service-1..N   (HTTP/2 to each, per call)
        ─▶ nginx :remote_agents_port ─▶ remote-agents

Three of each tolerate the loss of any one. Ports are the single-node ports plus an
offset per node (agentpipe/settings.py), so node 1 answers where the single node
would and every client command works unchanged. ``agentpipe up --cluster`` starts it;
stack/init.py provisions the Restate cluster once all three nodes run.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from agentpipe.settings import CLUSTER_SIZE, Settings
from stack.components import (
    AGENT_SERVICE_SECRETS,
    LLM_KEY_ENV,
    Component,
    Listen,
    format_kraft_storage,
    front_component,
    java_command,
    kafka_properties,
    kafka_ready,
    port_open,
    python_module,
    restate_listeners,
    restate_sockets,
    shared_components,
)
from stack.front import FrontRoute
from stack.installs import nginx_binary, restate_binaries
from stack.probes import http_ok
from stack.secrets import ensure_identity_keys

# What three brokers need: every internal topic on all three, two in sync for a write.
CLUSTER_BROKER = [
    "default.replication.factor=3",
    "min.insync.replicas=2",
    "offsets.topic.replication.factor=3",
    "transaction.state.log.replication.factor=3",
    "transaction.state.log.min.isr=2",
    "share.coordinator.state.topic.replication.factor=3",
    "share.coordinator.state.topic.min.isr=2",
    "group.initial.rebalance.delay.ms=0",
    "auto.create.topics.enable=false",
]
KAFKA_HEAP = ["-Xms128m", "-Xmx384m"]


def kafka_cluster_id(state_dir: Path) -> str:
    """One id for the three brokers' storage, made once per state folder."""
    path = state_dir / "kafka-cluster-id"
    if not path.exists():
        path.write_text(uuid.uuid4().hex[:22])
    return path.read_text().strip()


def broker_properties(settings: Settings, index: int, data_dir: Path) -> str:
    voters = ",".join(f"{i + 1}@127.0.0.1:{settings.broker_controller_port(i)}" for i in range(CLUSTER_SIZE))
    return kafka_properties(
        index + 1,
        settings.bind_host,
        settings.broker_port(index),
        settings.broker_controller_port(index),
        f"controller.quorum.voters={voters}",
        data_dir,
        settings,
        [*CLUSTER_BROKER, f"replica.fetch.max.bytes={settings.kafka_max_message_bytes}"],
    )


def _broker_command(settings: Settings, state_dir: Path, index: int) -> list[str]:
    name = f"kafka-{index + 1}"
    data_dir = state_dir / "kafka-data" / name
    props = state_dir / "kafka" / f"{name}.properties"
    props.parent.mkdir(parents=True, exist_ok=True)
    props.write_text(broker_properties(settings, index, data_dir))
    java = java_command(state_dir / "logs", KAFKA_HEAP)
    log = state_dir / "logs" / f"{name}-format.log"
    format_kraft_storage(name, java, props, data_dir, kafka_cluster_id(state_dir), log, standalone=False)
    return [*java, "kafka.Kafka", str(props)]


def node_name(index: int) -> str:
    return f"node-{index + 1}"


def node_base_dir(state_dir: Path, index: int) -> Path:
    return state_dir / "restate-data" / node_name(index)


def restate_node_config(
    settings: Settings, index: int, base_dir: Path | str, identity_key_file: Path | str, listen: Listen = "tcp"
) -> str:
    """One node of the Restate cluster: every role, replication 2 for logs and partitions."""
    ingress, admin, node = settings.restate_ports(index)
    host = settings.bind_host
    metadata = ", ".join(f'"http://127.0.0.1:{settings.restate_ports(i)[2]}/"' for i in range(CLUSTER_SIZE))
    return f"""\
node-name = "{node_name(index)}"
cluster-name = "agentpipe"
base-dir = "{base_dir}"
bind-address = "{host}:{node}"
advertised-address = "http://127.0.0.1:{node}/"
# Provisioned once, by `agentpipe up`, when all three nodes run (restatectl provision).
auto-provision = false
default-replication = 2
default-num-partitions = {settings.restate_partitions}
rocksdb-total-memory-size = "512 MiB"
disable-telemetry = true
log-format = "json"

[metadata-client]
addresses = [{metadata}]

{restate_listeners(settings, admin, ingress, identity_key_file, listen)}"""


def _restate_node_command(settings: Settings, state_dir: Path, index: int) -> list[str]:
    server, _cli = restate_binaries(state_dir / "logs")
    identity_key, _public = ensure_identity_keys(state_dir)
    config = state_dir / f"restate-{index + 1}.toml"
    config.write_text(restate_node_config(settings, index, node_base_dir(state_dir, index), identity_key, "unix"))
    return [str(server), "--config-file", str(config), "--no-logo", "--listen-mode", "tcp"]


def nginx_config(settings: Settings, state_dir: Path) -> str:
    """HTTP/2 in and out (grpc_pass speaks HTTP/2 cleartext to the upstreams), spread per call.

    restate-server keeps few long-lived HTTP/2 connections; a TCP balancer would pin each to one
    process. nginx ends them and sends every call (a stream) to the next upstream.
    """
    host = settings.bind_host
    agents = "\n".join(
        f"    server 127.0.0.1:{settings.agent_service_process_port(i)} max_fails=1 fail_timeout=2s;"
        for i in range(settings.cluster_agent_services)
    )
    run = state_dir / "nginx"
    return f"""\
worker_processes 1;
error_log {state_dir / "logs" / "balancer-error.log"} warn;
pid {run / "nginx.pid"};
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {run / "body"};
  proxy_temp_path {run / "proxy"};
  fastcgi_temp_path {run / "fastcgi"};
  uwsgi_temp_path {run / "uwsgi"};
  scgi_temp_path {run / "scgi"};
  client_max_body_size 0;
  # As many concurrent calls per connection as the agent service takes (nginx's default is 128).
  http2_max_concurrent_streams 1000;
  # nginx ends a client connection after 1,000 requests by default; restate-server's calls
  # are streams of a few long-lived connections, so keep them (as the agent service does).
  keepalive_requests 2147483647;
  # Invocations stream for as long as they run; a dead upstream is retried on the next one.
  grpc_read_timeout 1h;
  grpc_send_timeout 1h;
  grpc_next_upstream error timeout;
  upstream agent_service {{
{agents}
    keepalive 64;
  }}
  upstream remote_agents {{
    server 127.0.0.1:{settings.remote_agents_process_port};
    keepalive 16;
  }}
  server {{
    listen {host}:{settings.agent_service_port} http2;
    location / {{ grpc_pass grpc://agent_service; }}
  }}
  server {{
    listen {host}:{settings.remote_agents_port} http2;
    location / {{ grpc_pass grpc://remote_agents; }}
  }}
}}
"""


def _nginx_command(settings: Settings, state_dir: Path) -> list[str]:
    run = state_dir / "nginx"
    run.mkdir(parents=True, exist_ok=True)
    config = state_dir / "nginx.conf"
    config.write_text(nginx_config(settings, state_dir))
    return [str(nginx_binary()), "-c", str(config), "-p", str(run), "-g", "daemon off;"]


def cluster_components(settings: Settings, state_dir: Path) -> list[Component]:
    env = {"AGENTPIPE_STATE_DIR": str(state_dir)}
    components: list[Component] = []
    for i in range(CLUSTER_SIZE):
        # A quorum needs two controllers: the first two are up once they listen, the third
        # once the whole cluster answers.
        last = i == CLUSTER_SIZE - 1
        controller = settings.broker_controller_port(i)
        components.append(
            Component(
                f"kafka-{i + 1}",
                [settings.broker_port(i), controller],
                lambda i=i: _broker_command(settings, state_dir, i),  # type: ignore[misc]
                (lambda: kafka_ready(settings.kafka_bootstrap)) if last else (lambda c=controller: port_open(c)),  # type: ignore[misc]
                start_timeout_s=120,
            )
        )
    components += shared_components(settings, state_dir, before_restate=True)
    for i in range(CLUSTER_SIZE):
        # Nodes answer once they listen; stack/init.py provisions the cluster and waits for ingress.
        node_port = settings.restate_ports(i)[2]
        components.append(
            Component(
                f"restate-{i + 1}",
                [node_port],
                lambda i=i: _restate_node_command(settings, state_dir, i),  # type: ignore[misc]
                lambda p=node_port: port_open(p),  # type: ignore[misc]
                env={"RUST_BACKTRACE": "0"},
            )
        )
    routes = []
    for i in range(CLUSTER_SIZE):
        ingress, admin, _node = settings.restate_ports(i)
        ingress_socket, admin_socket = restate_sockets(node_base_dir(state_dir, i), node_name(i))
        routes.append(FrontRoute(kind="ingress", listen=ingress, backend=f"unix:{ingress_socket}"))
        routes.append(FrontRoute(kind="admin", listen=admin, backend=f"unix:{admin_socket}"))
    components.append(front_component(settings, routes))
    for i in range(settings.cluster_agent_services):
        port = settings.agent_service_process_port(i)
        components.append(
            Component(
                f"agent-service-{i + 1}",
                [port],
                python_module("handlers"),
                lambda p=port: http_ok(f"http://127.0.0.1:{p}/health"),  # type: ignore[misc]
                env={**env, "AGENTPIPE_AGENT_SERVICE_PORT": str(port)},
                secrets=AGENT_SERVICE_SECRETS,
            )
        )
    remote = settings.remote_agents_process_port
    components.append(
        Component(
            "remote-agents",
            [remote],
            python_module("handlers.remote_agents"),
            lambda: http_ok(f"http://127.0.0.1:{remote}/health"),
            env={**env, "AGENTPIPE_REMOTE_AGENTS_PORT": str(remote)},
            secrets=LLM_KEY_ENV,
        )
    )
    components.append(
        Component(
            "balancer",
            [settings.agent_service_port, settings.remote_agents_port],
            lambda: _nginx_command(settings, state_dir),
            lambda: port_open(settings.agent_service_port) and port_open(settings.remote_agents_port),
        )
    )
    components += shared_components(settings, state_dir, before_restate=False)
    return components
