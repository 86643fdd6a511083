"""python -m handlers.remote_agents: the remote-agents deployment on AGENTPIPE_REMOTE_AGENTS_PORT (9081)."""

from agentpipe.settings import get_settings
from handlers.remote_agents.app import app
from handlers.serve import serve

if __name__ == "__main__":
    serve(app, get_settings().remote_agents_port, component="remote-agents")
