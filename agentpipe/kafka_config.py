"""The librdkafka config of every agentpipe client of the stack's broker."""

from __future__ import annotations

from typing import Any

from agentpipe.settings import get_settings


def client_config(**extra: Any) -> dict[str, Any]:
    """The bootstrap, the settings' pass-through options (security.protocol, sasl.*, ssl.*), then ``extra``."""
    settings = get_settings()
    return {"bootstrap.servers": settings.kafka_bootstrap, **settings.kafka_options, **extra}
