"""One module per group of `agentpipe` commands; each has ``register(subparsers)``."""
