"""Replay: re-publish a slice of a topic as new requests to a pattern.

Each replayed record becomes a new request with a new request id (one batch id
per run, so replaying the same slice twice gives two distinct batches) and
``replay_of`` set to the original request id: the body's ``request_id``, else
its ``request-id`` header, else the record's ``<topic>/<partition>/<offset>``,
the id the intake would have given it. The record key is kept (chat sessions).
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from producers.broker import (
    Record,
    TopicReader,
    cluster_metadata,
    offsets_for_time,
    partitions_of,
    probe_consumer,
    watermarks,
)
from producers.client import AgentpipeClient, require_pattern
from producers.errors import UsageError
from subscriptions.topics import PATTERNS

RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# Fields the intake sets itself; a replayed body must not carry the original's.
DERIVED_FIELDS = ("request_id", "source", "replay_of")


def parse_time(text: str) -> int:
    """Epoch milliseconds of an RFC 3339 time (naive = local time) or of a span ago: 90s, 15m, 2h, 1d."""
    match = RELATIVE.match(text.strip())
    if match:
        moment = datetime.now(timezone.utc) - timedelta(**{UNITS[match[2]]: float(match[1])})
    else:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise UsageError(
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
        raise UsageError("choose offsets (--from-offset/--to-offset) or times (--since/--until), not both")
    available = partitions_of(topic, cluster_metadata())
    chosen = partitions if partitions is not None else available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        raise UsageError(f"topic {topic} has no partition {unknown[0]} (it has {len(available)})")
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


def read_slice(replay_slice: ReplaySlice) -> list[Record]:
    if replay_slice.size == 0:
        return []
    ranges = {(replay_slice.topic, p): r for p, r in replay_slice.ranges.items() if r[1] > r[0]}
    with TopicReader(ranges) as reader:
        return list(reader.read_available(strict=True))


def original_request_id(record: Record, body: dict) -> str:
    rid = body.get("request_id")
    return rid if isinstance(rid, str) and rid else record.headers.get("request-id") or record.coordinates


@dataclass
class ReplayItem:
    request_id: str
    replay_of: str
    key: str | None
    body: dict


@dataclass
class ReplayPlan:
    batch: str
    pattern: str
    items: list[ReplayItem]
    skipped: list[str]  # "<coordinates>: why"


def new_batch_id() -> str:
    return f"replay-{uuid.uuid4().hex[:8]}"


def plan_replay(records: list[Record], pattern: str, batch: str | None = None) -> ReplayPlan:
    require_pattern(pattern)
    batch = batch or new_batch_id()
    items, skipped = [], []
    for record in records:
        value = record.json()
        if not isinstance(value, dict):
            skipped.append(f"{record.coordinates}: value is not a JSON object")
            continue
        if PATTERNS[pattern].keyed and not record.key_text:
            skipped.append(f"{record.coordinates}: no key, and {pattern} needs one (the session id)")
            continue
        body = {k: v for k, v in value.items() if k not in DERIVED_FIELDS}
        replay_of = original_request_id(record, value)
        request_id = f"{batch}-{len(items):05d}"
        items.append(ReplayItem(request_id, replay_of, record.key_text, {**body, "replay_of": replay_of}))
    return ReplayPlan(batch, pattern, items, skipped)


@dataclass
class ReplaySummary:
    batch: str
    pattern: str
    published: int
    skipped: list[str]
    waited: bool
    statuses: Counter = field(default_factory=Counter)
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return self.statuses.get("ok", 0)

    @property
    def not_ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != "ok")

    def to_dict(self) -> dict:
        return {"batch": self.batch, "pattern": self.pattern, "published": self.published,
                "skipped": len(self.skipped), "waited": self.waited, "ok": self.ok,
                "error": self.not_ok, "statuses": dict(self.statuses), "missing": len(self.missing)}


def run_replay(
    client: AgentpipeClient,
    plan: ReplayPlan,
    wait: bool,
    timeout: float,
    on_published: Callable[[], None] | None = None,
    on_result: Callable[[dict], None] | None = None,
) -> ReplaySummary:
    """Publish the plan; with ``wait``, collect the batch's results (listening starts before publishing)."""
    requests = [(item.body, item.key, item.request_id) for item in plan.items]
    summary = ReplaySummary(plan.batch, plan.pattern, 0, plan.skipped, wait)
    if not wait:
        summary.published = len(client.send_many(plan.pattern, requests, on_delivery=on_published))
        return summary
    with client.watch_results([plan.pattern]) as results:
        sent = client.send_many(plan.pattern, requests, on_delivery=on_published)
        summary.published = len(sent)
        found = results.wait_for([s.request_id for s in sent], timeout, on_result=on_result)
    summary.statuses.update(result["status"] for result in found.values())
    summary.missing = [s.request_id for s in sent if s.request_id not in found]
    return summary
