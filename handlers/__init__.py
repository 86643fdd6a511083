"""Restate services of agentpipe: the intake, the ten agent patterns and the ASGI apps."""
