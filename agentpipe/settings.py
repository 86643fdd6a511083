"""One settings object for every component.

Environment variables use the prefix ``AGENTPIPE_`` (``AGENTPIPE_KAFKA_BOOTSTRAP``),
plus the standard ``OPENAI_API_KEY``, ``OPENAI_BASE_URL`` and ``OPENAI_MODEL``.
Defaults are the local stack's ports and topics (docs/contract.md). Every value
is validated when the settings are loaded, so a bad one stops a component at
start with a message naming the variable, never in the middle of a request.
"""

from __future__ import annotations

import base64
import binascii
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from agentpipe.flow import BudgetLimits

OFFLINE_MODEL_NAME = "agentpipe-offline-deterministic"
# Restate nodes and Kafka brokers of the cluster topology: three tolerate the loss of one.
CLUSTER_SIZE = 3

Port = Annotated[int, Field(ge=1, le=65535)]
# librdkafka options whose values are secrets: masked in logs, never printed.
SECRET_KAFKA_OPTIONS = (
    "sasl.password",
    "ssl.key.password",
    "ssl.keystore.password",
    "ssl.key.pem",
    "sasl.oauthbearer.client.secret",
)


class ModelPrice(BaseModel):
    input: float = Field(ge=0)  # per 1M prompt tokens
    output: float = Field(ge=0)  # per 1M completion tokens


def secret_file_problem(path: Path) -> str | None:
    """Why a key file may not be used: others can read or change it (as ssh refuses such keys)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None  # absent: nothing to check
    if mode & 0o077:
        return f"{path} is open to other users (mode {mode & 0o777:04o}); run `chmod 600 {path}`"
    return None


MIN_APPROVAL_KEY_BYTES = 32
MAKE_APPROVAL_KEY = "openssl rand -hex 32"


def key_bytes(key: str) -> bytes | None:
    """The bytes a key written as hex or base64 (standard or URL-safe, padded or not) stands for."""
    if re.fullmatch(r"(?:[0-9a-fA-F]{2})+", key):
        return bytes.fromhex(key)
    standard = key.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def approval_key_file_problem(key_file: Path, key: str) -> str | None:
    """Why the key read from ``key_file`` may not be used (open to others, or too weak), naming the file."""
    problem = secret_file_problem(key_file)
    if problem:
        return problem  # names the file already
    problem = approval_key_problem(key)
    return f"{problem} ({key_file})" if problem else None


def approval_key_problem(key: str) -> str | None:
    """Why ``key`` is too weak to sign decisions with; None for at least 32 random bytes in hex or base64.

    Anyone who guesses the key decides every review, so a word, a phrase or a short key is refused.
    "Random" is checked as far as a string can show it: 32 bytes that are mostly distinct, not a repeat.
    """
    raw = key_bytes(key)
    if raw is None or len(raw) < MIN_APPROVAL_KEY_BYTES or len(set(raw)) < MIN_APPROVAL_KEY_BYTES // 2:
        return (
            f"the approval key (AGENTPIPE_APPROVAL_KEY) must be at least {MIN_APPROVAL_KEY_BYTES} random bytes "
            f"written as hex or base64 (a {len(key)}-character key is not); make one with `{MAKE_APPROVAL_KEY}`"
        )
    return None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENTPIPE_", extra="ignore")

    # Kafka (bootstrap defaults to the local broker's port)
    kafka_bootstrap: str = ""
    kafka_port: Port = 9092
    kafka_controller_port: Port = 9093
    # librdkafka options for every Kafka client of agentpipe and for Restate's Kafka ingress,
    # as JSON: {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", ...}.
    kafka_options: dict[str, str] = Field(default_factory=dict)
    topic_prefix: str = Field(default="agent.", min_length=1, max_length=100)
    request_partitions: int = Field(default=4, ge=1, le=1000)
    restate_kafka_cluster: str = Field(default="local", pattern=r"^[a-z0-9][a-z0-9-]*$")

    # Restate (URLs default to the local ports)
    restate_ingress_url: str = ""
    restate_admin_url: str = ""
    restate_ingress_port: Port = 8080
    restate_admin_port: Port = 9070
    restate_node_port: Port = 5122
    # "0s" makes restate-server suspend at every await, so every step replays the journal.
    restate_inactivity_timeout: str = "1m"
    # Restate partitions, fixed when its data folder is first created. Each runs on one core at a
    # time and costs CPU of its own: on 2 cores, 2 took Restate's CPU per request from 8.6 to 4.9 ms
    # against 8 (docs/benchmarks). Give it about as many as Restate has cores.
    restate_partitions: int = Field(default=2, ge=1, le=4096)
    # Invocations each Restate partition runs at once; the rest wait their turn in Restate. Above
    # capacity a bound keeps the pipeline finishing requests at its full rate instead of sharing
    # the CPU among thousands of half-done ones (docs/benchmarks: 150 requests/s offered on 2
    # cores, 97 completed with 100 against 57 with Restate's default of 1000). Size it to the
    # requests you want running at once: throughput x seconds per request (a real model's
    # seconds make that higher than the offline model's).
    restate_invoker_limit: int = Field(default=100, ge=1, le=1_000_000)
    # Public keys (publickeyv1_…) whose signatures the deployments accept; restate-server signs
    # every request with the matching private key. Empty: read <state_dir>/request-identity.pub.
    request_identity_keys: list[str] = Field(default_factory=list)

    # How long the client (the CLI) waits for a broker, and for an answer of the admin API,
    # before it reports the stack unreachable or too slow.
    client_broker_timeout_s: float = Field(default=5.0, gt=0)
    client_admin_timeout_s: float = Field(default=15.0, gt=0)

    # Our own processes. The local stack binds every port to this address; widen it only
    # behind a firewall (the admin API has no authentication).
    bind_host: str = "127.0.0.1"
    agent_service_port: Port = 9080
    remote_agents_port: Port = 9081
    offline_model_port: Port = 9099
    # Limits the offline model enforces per model, answering 429 as OpenAI does when they are
    # exceeded (unset: none), so the demo, tests and benchmarks can run against a limited provider.
    offline_model_requests_per_s: float | None = Field(default=None, gt=0)
    offline_model_tokens_per_min: float | None = Field(default=None, gt=0)
    # How restate-server reaches the deployments (compose uses service names).
    agent_service_url: str = ""
    remote_agents_url: str = ""

    # LLM (standard OpenAI variables, no prefix)
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "AGENTPIPE_OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL", "AGENTPIPE_OPENAI_BASE_URL")
    )
    model: str | None = Field(default=None, validation_alias=AliasChoices("OPENAI_MODEL", "AGENTPIPE_MODEL"))
    llm_timeout_s: float = Field(default=20.0, gt=0)
    # Models a request (or `agentpipe replay --model`) may choose besides the default one, as JSON:
    # ["gpt-4o", "gpt-4o-mini"]. A request naming another model is refused.
    allowed_models: list[str] = Field(default_factory=list)
    # USD per 1M tokens, per model, for `agentpipe usage`'s estimate, as JSON:
    # {"gpt-4o-mini": {"input": 0.15, "output": 0.60}}. Models not listed are shown without a cost.
    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    # Attempts of one LLM step on 5xx, 408, 409, timeouts and lost connections. A 429 spends none:
    # the call waits for the model's budget, for as long as the request's deadline allows.
    llm_max_attempts: int = Field(default=5, ge=1, le=100)
    llm_initial_backoff_ms: int = Field(default=200, ge=1)
    llm_max_backoff_ms: int = Field(default=5_000, ge=1)
    # Provider budgets (docs/operations.md, Flow control), per model, "*" for any other, as JSON:
    # {"gpt-4o-mini": {"requests_per_minute": 500, "tokens_per_minute": 200000, "max_in_flight": 50}}.
    # Every LLM call of a listed model waits for a permit from the model's one budget, shared by all
    # agent-service processes. A model not listed is limited only once its provider says so (a 429,
    # or little left of the limit its headers state); then it gets a budget too.
    llm_budgets: dict[str, BudgetLimits] = Field(default_factory=dict)
    # How long a request may be held back by rate limits, from its first wait, before it ends with
    # status error ("rate limited for 3,600 s"); a request's deadline_s may ask for less.
    llm_rate_limit_deadline_s: float = Field(default=3600.0, gt=0, le=30 * 24 * 3600.0)

    # Bounds (each must be at least 1: zero never means "unlimited")
    max_record_bytes: int = Field(default=256 * 1024, ge=1024, le=16 * 1024 * 1024)
    # The largest record a topic takes (topic max.message.bytes). Input topics store records
    # uncompressed, so this also bounds what a consumer unpacks; Restate's ingress takes a
    # little more, so every record the broker accepts reaches an intake (and a dead letter).
    kafka_max_message_bytes: int = Field(default=1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024)
    tool_loop_max_rounds: int = Field(default=6, ge=1, le=100)
    tool_calls_max_per_round: int = Field(default=8, ge=1, le=100)
    evaluator_max_rounds: int = Field(default=5, ge=1, le=100)
    orchestrator_max_tasks: int = Field(default=5, ge=1, le=100)
    chat_history_max: int = Field(default=20, ge=2, le=10_000)
    chat_history_max_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    # Attempts of one invocation before Restate pauses it (crashes, unreachable deployment).
    # Bad input never needs them: it becomes a dead letter or an error result at once.
    invocation_max_attempts: int = Field(default=100, ge=1, le=10_000)

    # Human in the loop
    approval_key: SecretStr | None = None
    review_timeout_s: float = Field(default=24 * 3600.0, gt=0)
    # How long a finished review (its decision and state) is kept before Restate deletes it.
    approval_retention_s: float = Field(default=7 * 24 * 3600.0, gt=0)
    # The review inbox (`agentpipe inbox`): its port, and the file of reviewer accounts
    # (default <state_dir>/inbox-reviewers.json, argon2id hashes, mode 0600).
    inbox_port: Port = 8090
    inbox_reviewers_file: Path | None = None

    # Local stack
    # "single": one broker, one restate-server, one agent-service process. "cluster": three brokers,
    # three Restate nodes, several agent-service processes behind nginx (`agentpipe up --cluster`
    # records it in the state folder, so later commands find the cluster without this variable).
    topology: Literal["single", "cluster"] | None = None
    cluster_agent_services: int = Field(default=2, ge=1, le=16)
    # Who provisions a Restate cluster: "restatectl" (the local stack's init runs `restatectl provision`
    # once all three nodes listen) or "external" (someone else does, once: compose's `restate-provision`
    # one-shot, a Kubernetes operator, or an operator running restatectl; init only waits for the admin API).
    cluster_provisioning: Literal["restatectl", "external"] = "restatectl"
    state_dir: Path = Path(".agentpipe")
    cache_dir: Path = Path.home() / ".cache" / "agentpipe"
    log_level: str = Field(default="info", pattern=r"(?i)^(debug|info|warning|error|critical)$")

    @field_validator("approval_key", mode="before")
    @classmethod
    def _empty_key_is_unset(cls, value: object) -> object:
        # AGENTPIPE_APPROVAL_KEY= (empty) must not quietly mean "no signatures needed".
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator("approval_key", mode="after")
    @classmethod
    def _strong_key(cls, value: SecretStr | None) -> SecretStr | None:
        problem = value and approval_key_problem(value.get_secret_value())
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _local_defaults(self) -> Settings:
        local = "127.0.0.1"
        if self.topology is None:
            recorded = _read_text(self.state_dir / "topology")
            self.topology = "cluster" if recorded == "cluster" else "single"
        brokers = range(CLUSTER_SIZE if self.topology == "cluster" else 1)
        self.kafka_bootstrap = self.kafka_bootstrap or ",".join(f"{local}:{self.broker_port(i)}" for i in brokers)
        self.restate_ingress_url = self.restate_ingress_url or f"http://{local}:{self.restate_ingress_port}"
        self.restate_admin_url = self.restate_admin_url or f"http://{local}:{self.restate_admin_port}"
        self.agent_service_url = self.agent_service_url or f"http://{local}:{self.agent_service_port}"
        self.remote_agents_url = self.remote_agents_url or f"http://{local}:{self.remote_agents_port}"
        if self.kafka_max_message_bytes < self.max_record_bytes:
            raise ValueError("kafka_max_message_bytes must be at least max_record_bytes")
        if self.llm_max_backoff_ms < self.llm_initial_backoff_ms:
            raise ValueError("llm_max_backoff_ms must not be below llm_initial_backoff_ms")
        # `agentpipe up` makes a key once per state folder; clients of that stack sign with it.
        if self.approval_key is None:
            key_file = self.state_dir / "approval.key"
            key = _read_text(key_file)
            if key:
                problem = approval_key_file_problem(key_file, key)
                if problem:
                    raise ValueError(problem)
                self.approval_key = SecretStr(key)
        if not self.request_identity_keys:
            public = _read_text(self.state_dir / "request-identity.pub")
            self.request_identity_keys = [public] if public else []
        return self

    @property
    def reviewers_file(self) -> Path:
        return self.inbox_reviewers_file or self.state_dir / "inbox-reviewers.json"

    # Ports of the cluster topology: node i of each kind is the single-node port plus an offset.
    def broker_port(self, index: int) -> int:
        return self.kafka_port + 2 * index

    def broker_controller_port(self, index: int) -> int:
        return self.kafka_controller_port + 2 * index

    def restate_ports(self, index: int) -> tuple[int, int, int]:
        """Ingress, admin and node port of Restate node ``index`` (0 is the single node's)."""
        return self.restate_ingress_port + index, self.restate_admin_port + index, self.restate_node_port + index

    def agent_service_process_port(self, index: int) -> int:
        """In a cluster, agent-service process ``index`` listens here; nginx listens on agent_service_port."""
        return self.agent_service_port + 100 + index

    @property
    def remote_agents_process_port(self) -> int:
        return self.remote_agents_port + 200

    @property
    def kafka_replication(self) -> int:
        """Replicas of every topic (and min in-sync replicas: one fewer, at least one)."""
        return CLUSTER_SIZE if self.topology == "cluster" else 1

    @property
    def offline_model_url(self) -> str:
        return f"http://127.0.0.1:{self.offline_model_port}"

    @property
    def uses_offline_model(self) -> bool:
        """True when LLM calls go to the local offline model (then `up` starts it)."""
        return self.llm_base_url == f"{self.offline_model_url}/v1"

    @property
    def llm_base_url(self) -> str | None:
        if self.openai_base_url:
            return self.openai_base_url
        if self.openai_api_key is not None:
            return None  # the openai package's default endpoint
        return f"{self.offline_model_url}/v1"

    @property
    def llm_api_key(self) -> str:
        return self.openai_api_key.get_secret_value() if self.openai_api_key else "offline"

    @property
    def llm_model(self) -> str:
        if self.model:
            return self.model
        return OFFLINE_MODEL_NAME if self.uses_offline_model else "gpt-4o-mini"

    @property
    def approval_secret(self) -> bytes | None:
        return self.approval_key.get_secret_value().encode() if self.approval_key else None

    @property
    def restate_ingress_limit_bytes(self) -> int:
        """What Restate's ingress takes: a whole record plus room for its key and headers."""
        return self.kafka_max_message_bytes + 64 * 1024

    @property
    def dead_letter_payload_bytes(self) -> int:
        """How much of a record a dead letter carries: what still fits a record once base64-encoded."""
        return (self.kafka_max_message_bytes - 16 * 1024) * 3 // 4

    def secret_values(self) -> list[str]:
        """Every configured secret, for the log redactor."""
        values = [s.get_secret_value() for s in (self.openai_api_key, self.approval_key) if s is not None]
        values += [v for k, v in self.kafka_options.items() if k in SECRET_KAFKA_OPTIONS]
        return [v for v in values if v]


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def describe_settings_error(exc: ValidationError) -> str:
    """One line naming each bad variable, for a component that refuses to start."""
    parts = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "settings"
        parts.append(f"AGENTPIPE_{field.upper()}: {error['msg']}")
    return "invalid settings: " + "; ".join(parts)
