"""A second, SASL/SCRAM-only Kafka broker from the local stack's jars, for the pass-through tests.

Clients get only the CLIENT listener (SASL_PLAINTEXT, SCRAM-SHA-256); INTERNAL (PLAINTEXT)
exists because the broker must talk to itself, CONTROLLER for KRaft.
"""

from __future__ import annotations

import logging
import secrets
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient

from stack.components import SINGLE_NODE_BROKER
from stack.installs import STACK_DIR, kafka_classpath
from tests.ports import free_ports

USER = "alice"
# The readiness probe fails until the broker is up; librdkafka would print each failed connect.
_quiet = logging.getLogger("sasl_broker.librdkafka")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


def tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else "(no log)"


@dataclass
class SaslBroker:
    bootstrap: str  # the CLIENT listener
    password: str
    process: subprocess.Popen
    log: Path

    @property
    def options(self) -> dict[str, str]:
        """AGENTPIPE_KAFKA_OPTIONS that authenticate as alice."""
        return {
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-256",
            "sasl.username": USER,
            "sasl.password": self.password,
        }

    def probe(self) -> None:
        """Raises unless an authenticated client gets the broker's metadata."""
        AdminClient({"bootstrap.servers": self.bootstrap, **self.options, "logger": _quiet}).list_topics(timeout=2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def start(workdir: Path, timeout: float = 90.0) -> SaslBroker:
    """Format and start the broker; raises RuntimeError with the log tail if it does not answer in time."""
    client, internal, controller = free_ports(3)
    password = secrets.token_hex(16)  # hex: nothing that could break --add-scram's [k=v,...] syntax
    props, log = workdir / "server.properties", workdir / "kafka.log"
    props.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.bootstrap.servers=127.0.0.1:{controller}",
                f"listeners=CLIENT://127.0.0.1:{client},INTERNAL://127.0.0.1:{internal},"
                f"CONTROLLER://127.0.0.1:{controller}",
                f"advertised.listeners=CLIENT://127.0.0.1:{client},INTERNAL://127.0.0.1:{internal}",
                "listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=INTERNAL",
                "sasl.enabled.mechanisms=SCRAM-SHA-256",
                # Credentials live in the metadata log (--add-scram); the login module only verifies them.
                "listener.name.client.scram-sha-256.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                f"log.dirs={workdir / 'data'}",
                *SINGLE_NODE_BROKER,
                "",
            ]
        )
    )
    java = [
        "java",
        "-Xms128m",
        "-Xmx384m",
        "-cp",
        kafka_classpath(workdir),
        f"-Dlog4j2.configurationFile={STACK_DIR / 'log4j2.properties'}",
    ]
    with log.open("ab") as out:
        formatted = subprocess.run(
            [
                *java,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                uuid.uuid4().hex[:22],
                "-c",
                str(props),
                "--standalone",
                "--add-scram",
                f"SCRAM-SHA-256=[name={USER},password={password}]",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=120,
        )
    if formatted.returncode != 0:
        raise RuntimeError(f"formatting the SASL broker failed:\n{tail(log)}")
    process = subprocess.Popen([*java, "kafka.Kafka", str(props)], stdout=log.open("ab"), stderr=subprocess.STDOUT)
    broker = SaslBroker(f"127.0.0.1:{client}", password, process, log)
    deadline = time.monotonic() + timeout
    while True:
        try:
            broker.probe()
            return broker
        except Exception as exc:  # noqa: BLE001 - not ready yet; reported if it never gets ready
            if process.poll() is not None or time.monotonic() > deadline:
                message = f"the SASL broker did not answer an authenticated client ({exc!r}):\n{tail(log)}"
                broker.stop()
                raise RuntimeError(message) from None
        time.sleep(0.5)
