"""The offline model: a deterministic stand-in for a real LLM.

A small OpenAI-compatible Chat Completions server whose replies come from
fixed rules (see ``rules.py``), not from a language model. It lets every
agentpipe pattern run end to end on a machine with no network model, and lets
tests inject faults (latency, HTTP errors, hangs, malformed output).

Run it with ``python -m offline_model [--host H] [--port P]``; drive its fault
controls with ``offline_model.client.OfflineModelControl``.
"""

from offline_model.client import OfflineModelControl

__all__ = ["OfflineModelControl"]
