"""Replay: re-publish a slice of a topic as new requests to a pattern.

Each replayed record becomes a new request with a new request id (one batch id
per run, so replaying the same slice twice gives two distinct batches) and
``replay_of`` set to the original request id: the body's ``request_id``, else
its ``request-id`` header, else the record's ``<topic>/<partition>/<offset>``,
the id the intake would have given it. The record key is kept (chat sessions).
A replay may choose another ``model`` (and ``temperature``) for every request it
publishes, so one slice can run again on another model.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from agentpipe.messages import AgentResult, describe_validation_error
from agentpipe.patterns import PATTERNS
from agentpipe.records import RejectedRecord, decode_json_object, printable
from agentpipe.settings import get_settings
from producers.broker import (
    Record,
    TopicReader,
    cluster_metadata,
    offsets_for_time,
    partitions_of,
    probe_consumer,
    watermarks,
)
from producers.client import AgentpipeClient, ResultStream, require_pattern
from producers.errors import InvalidInput

RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# Fields the intake sets itself; a replayed body must not carry the original's.
DERIVED_FIELDS = ("request_id", "source", "replay_of")
# What the request contract accepts (agentpipe/messages.py AgentRequest); whether the service allows
# the model (AGENTPIPE_ALLOWED_MODELS) is its own decision: a request it refuses is dead-lettered.
MAX_MODEL_CHARS = 200
MAX_TEMPERATURE = 2.0


def parse_time(text: str) -> int:
    """Epoch milliseconds of an RFC 3339 time (naive = local time) or of a span ago: 90s, 15m, 2h, 1d."""
    match = RELATIVE.match(text.strip())
    if match:
        moment = datetime.now(UTC) - timedelta(**{UNITS[match[2]]: float(match[1])})
    else:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise InvalidInput(
                f"invalid time {text!r}: use RFC 3339 (2026-01-31T12:00:00Z) or a span ago (15m, 2h)"
            ) from None
        if moment.tzinfo is None:
            moment = moment.astimezone()
    return int(moment.timestamp() * 1000)


@dataclass
class ReplaySlice:
    topic: str
    ranges: dict[int, tuple[int, int]]  # partition -> [start, end)

    @property
    def size(self) -> int:
        return sum(max(end - start, 0) for start, end in self.ranges.values())

    def describe(self) -> str:
        parts = ", ".join(f"[{p}] {s}..{e - 1}" for p, (s, e) in sorted(self.ranges.items()) if e > s)
        return f"{self.topic} {parts or '(empty)'}"


def plan_slice(
    topic: str,
    partitions: list[int] | None = None,
    from_offset: int | None = None,
    to_offset: int | None = None,
    since: str | None = None,
    until: str | None = None,
) -> ReplaySlice:
    """The offsets to replay: ``to_offset`` is inclusive, ``until`` exclusive; by default the whole topic."""
    if (from_offset is not None or to_offset is not None) and (since or until):
        raise InvalidInput("choose offsets (--from-offset/--to-offset) or times (--since/--until), not both")
    available = partitions_of(topic, cluster_metadata())
    chosen = partitions if partitions is not None else available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        raise InvalidInput(f"topic {topic} has no partition {unknown[0]} (it has {len(available)})")
    with probe_consumer() as probe:
        bounds = {p: watermarks(probe, topic, p) for p in chosen}
        starts = offsets_for_time(probe, topic, chosen, parse_time(since)) if since else {}
        ends = offsets_for_time(probe, topic, chosen, parse_time(until)) if until else {}
    ranges = {}
    for p, (low, high) in bounds.items():
        start = max(low, from_offset if from_offset is not None else starts.get(p, low))
        end = min(high, to_offset + 1 if to_offset is not None else ends.get(p, high))
        ranges[p] = (start, max(start, end))
    return ReplaySlice(topic, ranges)


def read_slice(replay_slice: ReplaySlice) -> Iterator[Record]:
    """The slice's records, streamed: nothing is held beyond the reader's fetch buffer."""
    ranges = {(replay_slice.topic, p): r for p, r in replay_slice.ranges.items() if r[1] > r[0]}
    if not ranges:
        return
    with TopicReader(ranges) as reader:
        yield from reader.read_available(strict=True)


def original_request_id(record: Record, body: dict) -> str:
    rid = body.get("request_id")
    return rid if isinstance(rid, str) and rid else record.headers.get("request-id") or record.coordinates


@dataclass
class ReplayItem:
    request_id: str
    replay_of: str
    key: str | None
    body: dict


def new_batch_id() -> str:
    return f"replay-{uuid.uuid4().hex[:8]}"


class ReplayPlanner:
    """Turns records into replay items one by one; request ids are ``<batch>-<sequence>``."""

    KEPT_REASONS = 20  # the first reasons for skipping are kept to show; the rest are only counted

    def __init__(
        self, pattern: str, batch: str | None = None, model: str | None = None, temperature: float | None = None
    ):
        self.pattern = require_pattern(pattern)
        self.batch = batch or new_batch_id()
        # Set in every replayed body, replacing the original's choice; None keeps what the record said.
        self.overrides: dict[str, str | float] = {}
        if model is not None:
            if not 0 < len(model) <= MAX_MODEL_CHARS:
                raise InvalidInput(f"a model name has 1 to {MAX_MODEL_CHARS} characters, not {len(model)}")
            self.overrides["model"] = model
        if temperature is not None:
            if not 0 <= temperature <= MAX_TEMPERATURE:
                raise InvalidInput(f"temperature must be between 0 and {MAX_TEMPERATURE:g}, not {temperature:g}")
            self.overrides["temperature"] = temperature
        self.planned = 0
        self.skipped = 0
        self.skip_reasons: list[str] = []  # "<coordinates>: why"

    def plan(self, record: Record) -> ReplayItem | None:
        # What the pipeline refused the first time (a dead letter), a replay skips and counts: one bad
        # record must not stop a batch of thousands.
        try:
            value = decode_json_object(record.value or b"", get_settings().max_record_bytes)
        except RejectedRecord as exc:
            self._skip(record, f"the pipeline refuses it: {exc}")
            return None
        try:
            PATTERNS[self.pattern].request.model_validate({k: v for k, v in value.items() if k not in DERIVED_FIELDS})
        except ValidationError as exc:
            self._skip(record, f"not a {self.pattern} request: {printable(describe_validation_error(exc))}")
            return None
        if PATTERNS[self.pattern].keyed and not record.key_text:
            self._skip(record, f"no key, and {self.pattern} needs one (the session id)")
            return None
        body = {k: v for k, v in value.items() if k not in DERIVED_FIELDS}
        replay_of = original_request_id(record, value)
        body = {**body, **self.overrides, "replay_of": replay_of}
        item = ReplayItem(self.request_id(self.planned), replay_of, record.key_text, body)
        self.planned += 1
        return item

    def request_id(self, sequence: int) -> str:
        return f"{self.batch}-{sequence:05d}"

    def sequence_of(self, request_id: str) -> int | None:
        prefix = f"{self.batch}-"
        tail = request_id[len(prefix) :] if request_id.startswith(prefix) else ""
        return int(tail) if tail.isdigit() and int(tail) < self.planned else None

    def items(self, records: Iterable[Record]) -> Iterator[ReplayItem]:
        for record in records:
            item = self.plan(record)
            if item is not None:
                yield item

    def _skip(self, record: Record, why: str) -> None:
        self.skipped += 1
        if len(self.skip_reasons) < self.KEPT_REASONS:
            self.skip_reasons.append(f"{record.coordinates}: {why}")


@dataclass
class ReplaySummary:
    batch: str
    pattern: str
    published: int
    skipped: int
    waited: bool
    statuses: Counter[str] = field(default_factory=Counter)
    missing: int = 0
    missing_examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return self.statuses.get("ok", 0)

    @property
    def not_ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != "ok")

    def to_dict(self) -> dict:
        return {
            "batch": self.batch,
            "pattern": self.pattern,
            "published": self.published,
            "skipped": self.skipped,
            "waited": self.waited,
            "ok": self.ok,
            "error": self.not_ok,
            "statuses": dict(self.statuses),
            "missing": self.missing,
        }


def chunks(items: Iterable[ReplayItem], size: int) -> Iterator[list[ReplayItem]]:
    chunk: list[ReplayItem] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_replay(
    client: AgentpipeClient,
    planner: ReplayPlanner,
    records: Iterable[Record],
    wait: bool,
    timeout: float,
    on_published: Callable[[], None] | None = None,
    on_result: Callable[[AgentResult], None] | None = None,
    chunk_size: int = 5000,
) -> ReplaySummary:
    """Publish the slice chunk by chunk; with ``wait``, collect the batch's results (listening starts
    before publishing). Memory stays bounded: a chunk of items, and one byte per request to wait for."""
    summary = ReplaySummary(planner.batch, planner.pattern, 0, 0, wait)
    with client.watch_results([planner.pattern]) if wait else nullcontext() as results:
        for chunk in chunks(planner.items(records), chunk_size):
            requests = [(item.body, item.key, item.request_id) for item in chunk]
            summary.published += len(client.send_many(planner.pattern, requests, on_delivery=on_published))
        summary.skipped = planner.skipped
        if results is not None:
            _collect(results, planner, summary, timeout, on_result)
    return summary


def _collect(
    results: ResultStream,
    planner: ReplayPlanner,
    summary: ReplaySummary,
    timeout: float,
    on_result: Callable[[AgentResult], None] | None,
) -> None:
    # Batch ids are new (a uuid per run), so the id alone names the request: no older result shares it.
    arrived = bytearray(summary.published)
    count = 0
    deadline = time.monotonic() + timeout
    while count < summary.published and time.monotonic() < deadline:
        for record in results.reader.poll_batch(0.2):
            result = results.parse(record)
            if result is None:
                continue
            sequence = planner.sequence_of(result.request_id)
            if sequence is None or arrived[sequence]:
                continue
            arrived[sequence] = 1
            count += 1
            summary.statuses[result.status] += 1
            if on_result is not None:
                on_result(result)
    summary.missing = summary.published - count
    summary.missing_examples = [planner.request_id(i) for i, got in enumerate(arrived) if not got][:10]
