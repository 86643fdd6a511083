"""agentpipe core: settings, message contract, logging, Kafka publishing, LLM steps."""
