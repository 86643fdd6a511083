"""The local stack: Kafka, restate-server and agentpipe's own processes under one supervisor."""
