"""python -m handlers: the agent service on AGENTPIPE_AGENT_SERVICE_PORT (9080)."""

from agentpipe.settings import get_settings
from handlers.app import app
from handlers.serve import serve

if __name__ == "__main__":
    serve(app, get_settings().agent_service_port, component="agent-service")
