"""python -m handlers.remote_agents: the remote-agents deployment on AGENTPIPE_REMOTE_AGENTS_PORT (9081)."""

from restate.server_types import RestateAppT

from handlers.serve import serve


def build_app() -> RestateAppT:
    from handlers.remote_agents.app import build_app as build

    return build()


if __name__ == "__main__":
    serve(build_app, lambda s: s.remote_agents_port, component="remote-agents")
