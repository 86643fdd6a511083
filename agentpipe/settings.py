"""One settings object for every component.

Environment variables use the prefix ``AGENTPIPE_`` (``AGENTPIPE_KAFKA_BOOTSTRAP``),
plus the standard ``OPENAI_API_KEY``, ``OPENAI_BASE_URL`` and ``OPENAI_MODEL``.
Defaults are the ports and topics of DESIGN.md.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

OFFLINE_MODEL_NAME = "agentpipe-offline-deterministic"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENTPIPE_", extra="ignore")

    # Kafka (bootstrap defaults to the local broker's port)
    kafka_bootstrap: str = ""
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    topic_prefix: str = "agent."
    request_partitions: int = 4
    restate_kafka_cluster: str = "local"

    # Restate (URLs default to the local ports)
    restate_ingress_url: str = ""
    restate_admin_url: str = ""
    restate_ingress_port: int = 8080
    restate_admin_port: int = 9070
    restate_node_port: int = 5122
    # "0s" makes restate-server suspend at every await, so every step replays the journal.
    restate_inactivity_timeout: str = "1m"

    # Our own processes
    agent_service_port: int = 9080
    remote_agents_port: int = 9081
    offline_model_port: int = 9099
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
    llm_timeout_s: float = 20.0
    llm_max_attempts: int = 5
    llm_initial_backoff_ms: int = 200
    llm_max_backoff_ms: int = 5_000

    # Bounds
    max_record_bytes: int = 256 * 1024
    tool_loop_max_rounds: int = 6
    evaluator_max_rounds: int = 5
    orchestrator_max_tasks: int = 5
    chat_history_max: int = 20

    # Human in the loop
    approval_key: SecretStr | None = None
    review_timeout_s: float = 24 * 3600.0

    # Local stack
    state_dir: Path = Path(".agentpipe")
    cache_dir: Path = Path.home() / ".cache" / "agentpipe"
    log_level: str = "info"

    @model_validator(mode="after")
    def _local_defaults(self) -> "Settings":
        local = "127.0.0.1"
        self.kafka_bootstrap = self.kafka_bootstrap or f"{local}:{self.kafka_port}"
        self.restate_ingress_url = self.restate_ingress_url or f"http://{local}:{self.restate_ingress_port}"
        self.restate_admin_url = self.restate_admin_url or f"http://{local}:{self.restate_admin_port}"
        self.agent_service_url = self.agent_service_url or f"http://{local}:{self.agent_service_port}"
        self.remote_agents_url = self.remote_agents_url or f"http://{local}:{self.remote_agents_port}"
        # `agentpipe up` makes a key once per state folder; clients of that stack sign with it.
        if self.approval_key is None:
            key_file = self.state_dir / "approval.key"
            if key_file.exists():
                self.approval_key = SecretStr(key_file.read_text().strip())
        return self

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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
