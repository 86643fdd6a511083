"""python -m handlers: the agent service on AGENTPIPE_AGENT_SERVICE_PORT (9080)."""

from restate.server_types import RestateAppT

from handlers.serve import require_approval_key, require_identity_keys, serve


def build_app() -> RestateAppT:
    # Imported only after the start-up checks: the services read (validated) settings at import.
    from handlers.app import build_app as build

    return build()


if __name__ == "__main__":
    serve(
        build_app,
        lambda s: s.agent_service_port,
        component="agent-service",
        checks=(require_identity_keys, require_approval_key),
    )
