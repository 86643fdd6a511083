"""The client side: an importable client library and the `agentpipe` command line built on it."""
