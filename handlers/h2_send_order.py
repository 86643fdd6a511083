"""Round-robin send order for hypercorn's HTTP/2 connections, in constant time per call.

hypercorn asks a ``priority.PriorityTree`` (RFC 7540 stream priorities) which stream sends
next, and tells it about every stream that blocks, unblocks, opens and closes. restate-server
runs every invocation of a deployment as one stream of a few connections and never sets a
priority, so the tree is a flat list of a hundred or more equal siblings, and each of those
calls walks it: 8 % of the agent service's CPU in the profile. Equal siblings are served in
turn, which is what this does with an ordered dict.

Only the part of PriorityTree that hypercorn's H2Protocol uses is here, with its errors
(tests/unit/test_h2_send_order.py checks both against the installed hypercorn and priority).
PRIORITY frames are accepted and ignored, as the tree would for equal weights.
"""

from __future__ import annotations

import types

import priority

# What priority.PriorityTree allows by default: PRIORITY frames may name streams that never
# open, and each is kept; the bound keeps a peer from growing the table without end.
MAXIMUM_STREAMS = 1000


class RoundRobin:
    def __init__(self, maximum_streams: int = MAXIMUM_STREAMS) -> None:
        self._maximum = maximum_streams
        self._streams: set[int] = set()
        self._ready: dict[int, None] = {}  # unblocked streams, next to send first

    def insert_stream(
        self, stream_id: int, depends_on: int | None = None, weight: int = 16, exclusive: bool = False
    ) -> None:
        if stream_id in self._streams:
            raise priority.DuplicateStreamError(f"stream {stream_id} already in the tree")
        if len(self._streams) >= self._maximum:
            raise priority.TooManyStreamsError(f"more than {self._maximum} streams")
        self._streams.add(stream_id)
        self._ready[stream_id] = None

    def reprioritize(
        self, stream_id: int, depends_on: int | None = None, weight: int = 16, exclusive: bool = False
    ) -> None:
        self._known(stream_id)

    def remove_stream(self, stream_id: int) -> None:
        self._known(stream_id)
        self._streams.discard(stream_id)
        self._ready.pop(stream_id, None)

    def block(self, stream_id: int) -> None:
        self._known(stream_id)
        self._ready.pop(stream_id, None)

    def unblock(self, stream_id: int) -> None:
        self._known(stream_id)
        self._ready.setdefault(stream_id, None)  # a stream already waiting keeps its turn

    def __iter__(self) -> RoundRobin:
        return self

    def __next__(self) -> int:
        if not self._ready:
            raise priority.DeadlockError("no unblocked streams")
        stream_id = next(iter(self._ready))
        del self._ready[stream_id]
        self._ready[stream_id] = None  # to the back of the line
        return stream_id

    def _known(self, stream_id: int) -> None:
        if stream_id not in self._streams:
            raise priority.MissingStreamError(f"stream {stream_id} not in the tree")


# Stands in for the ``priority`` module inside hypercorn.protocol.h2: the tree, and the errors it catches.
SCHEDULING = types.SimpleNamespace(
    PriorityTree=RoundRobin,
    DeadlockError=priority.DeadlockError,
    DuplicateStreamError=priority.DuplicateStreamError,
    MissingStreamError=priority.MissingStreamError,
    TooManyStreamsError=priority.TooManyStreamsError,
)


def use_round_robin() -> None:
    """Make every HTTP/2 connection hypercorn opens from now on schedule with RoundRobin."""
    import hypercorn.protocol.h2 as h2_protocol

    h2_protocol.priority = SCHEDULING  # type: ignore[assignment]
