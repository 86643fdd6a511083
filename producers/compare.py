"""Replay as an experiment: what changed when a batch ran again.

A replay batch (producers/replay.py) gives every replayed request the id
``<batch>-<sequence>`` and ``replay_of`` = the id of the request it repeats. The
comparison joins each result of the batch with the original result (the first
result for the ``replay_of`` id on the same pattern's result topic that is not
itself part of the batch) and sorts it into one of:

    same           ok before and now, the same output
    changed        ok before and now, another output
    regressed      ok before, failing now (error, rejected, timed_out)
    fixed          failing before, ok now
    still failing  failing before and now
    no original    no result for the replay_of id (or none named)

It streams, in up to three passes over the result topics, and holds memory for
the batch, not for the topics:

    pass 1  reads the topics (with ``batch_from``: only from where they ended when
            the replay began) and keeps, per batch result, its position, status
            and a 16-byte digest of its output, indexed by replay_of;
    pass 2  reads the topics from the beginning, compares each original it meets
            with its batch results by digest, and keeps the full original output
            only for the first ``show`` changed, regressed and fixed results (by
            batch sequence); the replay side of those is taken when pass 2 meets
            it after the original; it stops early once every original was met;
    pass 3  (only when some replay side is still missing) reads those few
            records again at the positions pass 1 noted.

Memory: about 40 bytes in arrays per batch result plus a dict entry for its
replay_of id, and at most 3 x ``show`` full outputs of each side; nothing grows
with the number of other records on the topics.
"""

from __future__ import annotations

import difflib
import hashlib
import heapq
import json
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from agentpipe.messages import AgentResult
from agentpipe.patterns import PATTERNS
from agentpipe.topics import result_topic
from producers.broker import Ranges, Record, TopicReader, cluster_metadata, probe_consumer, watermarks
from producers.client import require_pattern
from producers.errors import InvalidInput, NotFound
from producers.shapes import SkipCount, as_result

# Status codes in pass 1's arrays; 0 is "no result".
STATUS_CODES = {"ok": 1, "error": 2, "rejected": 3, "timed_out": 4}
OK = STATUS_CODES["ok"]
# Outcomes in the arrays; 0 is "no original met (yet)".
SAME, CHANGED, REGRESSED, FIXED, STILL_FAILING = 1, 2, 3, 4, 5
OUTCOMES = {SAME: "same", CHANGED: "changed", REGRESSED: "regressed", FIXED: "fixed", STILL_FAILING: "still_failing"}
EXAMPLE_OUTCOMES = (CHANGED, REGRESSED, FIXED)
DIGEST_BYTES = 16
MAX_MODELS = 20  # distinct model names counted per side; more are counted as "(other)"
MAX_DIFF_LINES = 200  # of one example's diff; the rest is counted
PROGRESS_EVERY = 5000  # records between progress reports
MANY_SLOTS = 8  # batch results of one original past which duplicates are found with a set
NO_REPLAY_OF = ""  # the index key of batch results that name no original (no request id is empty)


def output_digest(output: str | list[str]) -> bytes:
    """16 bytes that differ when outputs differ (text and a list of one item differ too)."""
    digest = hashlib.blake2b(digest_size=DIGEST_BYTES)
    if isinstance(output, str):
        digest.update(b"s" + output.encode("utf-8", "surrogatepass"))
    else:
        digest.update(b"l" + json.dumps(output, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    return digest.digest()


def batch_sequence(prefix: str, request_id: str) -> int | None:
    """The sequence of ``<batch>-<sequence>`` (as the planner writes it: at least five digits), else None."""
    if not request_id.startswith(prefix):
        return None
    tail = request_id[len(prefix) :]
    if not (tail.isascii() and tail.isdigit()):
        return None
    sequence = int(tail)
    return sequence if f"{sequence:05d}" == tail else None


def check_batch(batch: str) -> str:
    """The batch id, or InvalidInput for one that cannot be a batch (with a hint for a request id)."""
    batch = batch.strip()
    if not batch or any(c.isspace() for c in batch):
        raise InvalidInput(f"invalid batch id {batch!r}: use the one replay printed (replay-xxxxxxxx)")
    head, _, tail = batch.rpartition("-")
    if head.startswith("replay-") and head.count("-") == 1 and tail.isdigit() and len(tail) >= 5:
        raise InvalidInput(f"{batch} is a request id of a replay; its batch is {head}")
    return batch


def classify(replay_status: int, replay_digest: bytes, original_status: int, original_digest: bytes) -> int:
    if original_status == OK:
        if replay_status != OK:
            return REGRESSED
        return SAME if replay_digest == original_digest else CHANGED
    return FIXED if replay_status == OK else STILL_FAILING


def status_code(status: str) -> int:
    return STATUS_CODES.get(status, len(STATUS_CODES) + 1)


@dataclass
class Side:
    """One result as an example shows it: its status, output, error and the model that answered."""

    request_id: str
    status: str
    output: str | list[str]
    error: str | None
    model: str

    @classmethod
    def of(cls, result: AgentResult) -> Side:
        return cls(result.request_id, result.status, result.output, result.error, result.usage.model)

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "status": self.status,
            "output": self.output,
            "error": self.error,
            "model": self.model,
        }


@dataclass
class Example:
    """A changed, regressed or fixed result: both sides (the replay side once a pass met it)."""

    request_id: str  # the replay's
    replay_of: str
    outcome: str
    original: Side
    replay: Side | None = None

    def diff(self) -> list[str]:
        """The outputs as a diff (unified for text, item by item for lists); [] until the replay side is known."""
        if self.replay is None:
            return []
        return output_diff(self.original.output, self.replay.output, self.replay_of, self.request_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "replay_of": self.replay_of,
            "outcome": self.outcome,
            "original": self.original.to_dict(),
            "replay": self.replay.to_dict() if self.replay else None,
            "diff": self.diff() if self.outcome == "changed" else [],
        }


def _clip(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_DIFF_LINES:
        return lines
    return [*lines[:MAX_DIFF_LINES], f"... {len(lines) - MAX_DIFF_LINES} more diff lines"]


def text_diff(before: str, after: str, before_label: str, after_label: str) -> list[str]:
    """A unified diff; a trailing newline counts (it shows as an empty line)."""
    return list(
        difflib.unified_diff(before.split("\n"), after.split("\n"), before_label, after_label, lineterm="", n=3)
    )


def output_diff(before: str | list[str], after: str | list[str], before_id: str = "", after_id: str = "") -> list[str]:
    """Text: a unified diff. Lists: item by item, each changed item as its own diff, items only on one side whole."""
    before_label, after_label = f"original {before_id}".strip(), f"replay {after_id}".strip()
    if isinstance(before, list) and isinstance(after, list):
        lines: list[str] = []
        for i in range(max(len(before), len(after))):
            n = i + 1
            if i >= len(before):
                lines += [f"item {n}: only in the replay", *(f"+{line}" for line in after[i].split("\n"))]
            elif i >= len(after):
                lines += [f"item {n}: only in the original", *(f"-{line}" for line in before[i].split("\n"))]
            elif before[i] != after[i]:
                lines += [f"item {n}: changed", *text_diff(before[i], after[i], before_label, after_label)[2:]]
        return _clip(lines)
    if isinstance(before, list) or isinstance(after, list):
        kinds = [f"a list of {len(v)} items" if isinstance(v, list) else "text" for v in (before, after)]
        note = f"output was {kinds[0]}, now {kinds[1]} (items joined by newlines below)"
        return _clip([note, *text_diff(as_text(before), as_text(after), before_label, after_label)])
    return _clip(text_diff(before, after, before_label, after_label))


def as_text(output: str | list[str]) -> str:
    return "\n".join(output) if isinstance(output, list) else output


class Models:
    """How many results each model answered; a few names at most (more go to "(other)")."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add(self, model: str) -> None:
        name = model or "(not named)"
        if name not in self.counts and len(self.counts) >= MAX_MODELS:
            name = "(other)"
        self.counts[name] += 1


class Keeper:
    """The first ``limit`` examples by batch sequence, whatever the order they are met in."""

    def __init__(self, limit: int):
        self.limit = limit
        self._heap: list[tuple[int, int, Example]] = []  # (-sequence, slot, example): the largest on top

    def offer(self, sequence: int, slot: int, example: Example) -> tuple[bool, int | None]:
        """(kept, the slot of the example it pushed out)."""
        if self.limit <= 0:
            return False, None
        if len(self._heap) < self.limit:
            heapq.heappush(self._heap, (-sequence, slot, example))
            return True, None
        if sequence < -self._heap[0][0]:
            _, evicted, _ = heapq.heapreplace(self._heap, (-sequence, slot, example))
            return True, evicted
        return False, None

    def examples(self) -> list[Example]:
        return [example for _, _, example in sorted(self._heap, reverse=True)]


@dataclass
class PatternReport:
    pattern: str
    replayed: int = 0  # batch results found
    counts: dict[str, int] = field(default_factory=dict)  # per outcome name
    no_original: int = 0
    no_replay_result: int | None = None  # requests of the batch without a result; known when the replay waited
    replay_models: dict[str, int] = field(default_factory=dict)
    original_models: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[Example]] = field(default_factory=dict)  # changed / regressed / fixed
    no_original_examples: list[tuple[str, str]] = field(default_factory=list)  # (request id, replay_of)

    def count(self, outcome: str) -> int:
        return self.counts.get(outcome, 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pattern": self.pattern,
            "replayed": self.replayed,
            **{name: self.count(name) for name in OUTCOMES.values()},
            "no_original": self.no_original,
            "no_replay_result": self.no_replay_result,
            "replay_models": self.replay_models,
            "original_models": self.original_models,
            **{
                f"{name}_examples": [e.to_dict() for e in self.examples.get(name, [])]
                for name in ("changed", "regressed", "fixed")
            },
            "no_original_examples": [{"request_id": r, "replay_of": o} for r, o in self.no_original_examples],
        }


@dataclass
class CompareReport:
    batch: str
    patterns: dict[str, PatternReport]
    show: int
    records_read: list[int]  # per pass
    skipped: int  # records that should have been results and were not
    replay: dict[str, Any] | None = None  # the replay's summary, when the comparison followed it

    def total(self, outcome: str) -> int:
        return sum(p.count(outcome) for p in self.patterns.values())

    @property
    def regressed(self) -> int:
        return self.total("regressed")

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            "regressed": self.regressed,
            "patterns": {name: p.to_dict() for name, p in self.patterns.items()},
            "show": self.show,
            "records_read": {f"pass{i + 1}": n for i, n in enumerate(self.records_read)},
            "skipped": self.skipped,
            **({"replay": self.replay} if self.replay is not None else {}),
        }


class _PatternIndex:
    """Pass 1's memory for one pattern's batch results, slot by slot, indexed by replay_of."""

    def __init__(self, pattern: str, show: int):
        self.pattern = pattern
        self.sequences = array("q")
        self.partitions = array("i")
        self.offsets = array("q")
        self.statuses = bytearray()
        self.digests = bytearray()
        self.outcomes = bytearray()
        self.by_original: dict[str, int | list[int]] = {}
        self._many: dict[str, set[int]] = {}  # the sequences of a replay_of with many slots
        self.pending = 0  # slots that name an original not met yet
        self.replay_models = Models()
        self.original_models = Models()
        self.keepers = {outcome: Keeper(show) for outcome in EXAMPLE_OUTCOMES}

    def slots_of(self, replay_of: str) -> list[int]:
        found = self.by_original.get(replay_of)
        return [] if found is None else [found] if isinstance(found, int) else found

    def add(self, sequence: int, record: Record, result: AgentResult) -> bool:
        """Index one batch result; False for a repeat of a request id already indexed."""
        key = result.replay_of or NO_REPLAY_OF
        found = self.by_original.get(key)
        slots = self.slots_of(key)
        if len(slots) >= MANY_SLOTS:  # one original replayed many times: a set, not a scan per result
            seen = self._many.get(key)
            if seen is None:
                seen = self._many[key] = {self.sequences[slot] for slot in slots}
            if sequence in seen:
                return False
            seen.add(sequence)
        elif any(self.sequences[slot] == sequence for slot in slots):
            return False
        slot = len(self.sequences)
        self.sequences.append(sequence)
        self.partitions.append(record.partition)
        self.offsets.append(record.offset)
        self.statuses.append(status_code(result.status))
        self.digests += output_digest(result.output)
        self.outcomes.append(0)
        if found is None:
            self.by_original[key] = slot
        elif isinstance(found, int):
            self.by_original[key] = [found, slot]
        else:
            found.append(slot)
        if key != NO_REPLAY_OF:
            self.pending += 1
        self.replay_models.add(result.usage.model)
        return True

    def digest(self, slot: int) -> bytes:
        return bytes(self.digests[slot * DIGEST_BYTES : (slot + 1) * DIGEST_BYTES])


# Called with the number of records a pass has read: every PROGRESS_EVERY records and when the pass ends.
Progress = Callable[[int], None]


def _counted(records: Iterable[Record], counts: list[int], slot: int, progress: Progress | None) -> Iterator[Record]:
    """``records``, counted in ``counts[slot]``; the source is closed when the caller stops early."""
    iterator = iter(records)
    try:
        for record in iterator:
            counts[slot] += 1
            if progress is not None and counts[slot] % PROGRESS_EVERY == 0:
                progress(counts[slot])
            yield record
    finally:
        if progress is not None:
            progress(counts[slot])
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


class BatchComparison:
    """The join, fed with records: ``index`` (pass 1), ``join`` (pass 2), ``fill`` (pass 3), then ``report``.

    Kafka-free, so it can be driven by any record source; ``compare_batch`` drives it over the result topics.
    """

    def __init__(self, batch: str, patterns: Iterable[str], show: int = 5):
        self.batch = check_batch(batch)
        self.prefix = f"{self.batch}-"
        self.show = show
        self.topics = {result_topic(require_pattern(p)): p for p in patterns}
        self._index = {p: _PatternIndex(p, show) for p in self.topics.values()}
        # Where the replay side of a kept example is: (topic, partition, offset) -> example.
        self._wanted: dict[tuple[str, int, int], Example] = {}
        self.records_read = [0, 0, 0]
        self.skipped = SkipCount()

    # -- pass 1 ---------------------------------------------------------------

    def index(self, records: Iterable[Record], progress: Progress | None = None) -> None:
        """Keep position, status and output digest of every batch result (each request id once)."""
        for record in _counted(records, self.records_read, 0, progress):
            pattern = self.topics.get(record.topic)
            value = record.json()
            if pattern is None or not isinstance(value, dict):
                continue
            request_id = value.get("request_id")
            sequence = batch_sequence(self.prefix, request_id) if isinstance(request_id, str) else None
            if sequence is None:
                continue
            result = as_result(value)
            if result is None:
                self.skipped.add()
                continue
            self._index[pattern].add(sequence, record, result)

    @property
    def pending(self) -> int:
        """Batch results whose original was not met yet."""
        return sum(index.pending for index in self._index.values())

    # -- pass 2 ---------------------------------------------------------------

    def join(self, records: Iterable[Record], progress: Progress | None = None) -> None:
        """Compare each original met with its batch results; stops once every original was met."""
        if not self.pending:
            return
        for record in _counted(records, self.records_read, 1, progress):
            if (record.topic, record.partition, record.offset) in self._wanted:
                self._take_replay_side(record)
                continue
            pattern = self.topics.get(record.topic)
            value = record.json()
            if pattern is None or not isinstance(value, dict):
                continue
            request_id = value.get("request_id")
            if not isinstance(request_id, str) or request_id.startswith(self.prefix):
                continue
            index = self._index[pattern]
            if request_id not in index.by_original:
                continue
            original = as_result(value)
            if original is None:
                self.skipped.add()
                continue
            self._join_original(index, original)
            if not self.pending:
                return

    def _join_original(self, index: _PatternIndex, original: AgentResult) -> None:
        status, digest, counted = status_code(original.status), output_digest(original.output), False
        for slot in index.slots_of(original.request_id):
            if index.outcomes[slot]:  # the first original counts
                continue
            outcome = classify(index.statuses[slot], index.digest(slot), status, digest)
            index.outcomes[slot] = outcome
            index.pending -= 1
            if not counted:
                index.original_models.add(original.usage.model)
                counted = True
            if outcome in EXAMPLE_OUTCOMES:
                self._offer(index, slot, outcome, original)

    def _offer(self, index: _PatternIndex, slot: int, outcome: int, original: AgentResult) -> None:
        sequence = index.sequences[slot]
        example = Example(f"{self.prefix}{sequence:05d}", original.request_id, OUTCOMES[outcome], Side.of(original))
        kept, evicted = index.keepers[outcome].offer(sequence, slot, example)
        if evicted is not None:
            self._wanted.pop(self._position(index, evicted), None)
        if kept:
            self._wanted[self._position(index, slot)] = example

    def _position(self, index: _PatternIndex, slot: int) -> tuple[str, int, int]:
        return result_topic(index.pattern), index.partitions[slot], index.offsets[slot]

    def _take_replay_side(self, record: Record) -> None:
        example = self._wanted.pop((record.topic, record.partition, record.offset))
        result = as_result(record.json())
        if result is not None:
            example.replay = Side.of(result)

    # -- pass 3 ---------------------------------------------------------------

    def missing_replay_sides(self) -> Ranges:
        """Per partition, the offsets that span the replay sides still to fetch (empty: no pass 3)."""
        ranges: Ranges = {}
        for topic, partition, offset in self._wanted:
            start, end = ranges.get((topic, partition), (offset, offset + 1))
            ranges[(topic, partition)] = (min(start, offset), max(end, offset + 1))
        return ranges

    def fill(self, records: Iterable[Record], progress: Progress | None = None) -> None:
        """Take the replay sides of the kept examples from their records."""
        for record in _counted(records, self.records_read, 2, progress):
            if (record.topic, record.partition, record.offset) in self._wanted:
                self._take_replay_side(record)
                if not self._wanted:
                    return

    # -- the report -----------------------------------------------------------

    def report(self, keep_empty: Iterable[str] = ()) -> CompareReport:
        """Per pattern with batch results (and the ``keep_empty`` ones even without)."""
        keep = set(keep_empty)
        patterns = {}
        for pattern, index in self._index.items():
            if not index.sequences and pattern not in keep:
                continue
            counts = Counter(index.outcomes)
            patterns[pattern] = PatternReport(
                pattern=pattern,
                replayed=len(index.sequences),
                counts={name: counts.get(number, 0) for number, name in OUTCOMES.items()},
                no_original=counts.get(0, 0),
                replay_models=dict(index.replay_models.counts),
                original_models=dict(index.original_models.counts),
                examples={OUTCOMES[o]: keeper.examples() for o, keeper in index.keepers.items()},
                no_original_examples=self._no_original_examples(index),
            )
        return CompareReport(self.batch, patterns, self.show, list(self.records_read), self.skipped.count)

    def _no_original_examples(self, index: _PatternIndex) -> list[tuple[str, str]]:
        unmet = (
            (index.sequences[slot], original)
            for original in index.by_original
            for slot in index.slots_of(original)
            if not index.outcomes[slot]
        )
        return [(f"{self.prefix}{s:05d}", original) for s, original in heapq.nsmallest(self.show, unmet)]


# -- over Kafka -----------------------------------------------------------------


def result_topics(patterns: Iterable[str] | None) -> list[str]:
    """The result topics of ``patterns`` (all that exist when None); NotFound for a named one that does not."""
    existing = cluster_metadata().topics
    if patterns is None:
        return [result_topic(p) for p in PATTERNS if result_topic(p) in existing]
    topics = [result_topic(require_pattern(p)) for p in patterns]
    for topic in topics:
        if topic not in existing:
            raise NotFound(f"topic {topic!r} does not exist: no result of that pattern was ever published")
    return topics


def topic_bounds(topics: Iterable[str]) -> dict[tuple[str, int], tuple[int, int]]:
    """(low, high) watermark of every partition of ``topics``."""
    metadata = cluster_metadata()
    with probe_consumer() as probe:
        return {
            (topic, partition): watermarks(probe, topic, partition)
            for topic in topics
            if topic in metadata.topics
            for partition in metadata.topics[topic].partitions
        }


def result_topic_ends(patterns: Iterable[str]) -> dict[tuple[str, int], int]:
    """Where the patterns' result topics end now: taken before a replay publishes, every result of
    its batch lies past it, so pass 1 need not read what was there before."""
    return {tp: high for tp, (_, high) in topic_bounds(result_topics(patterns)).items()}


def _read(ranges: Ranges) -> Iterator[Record]:
    ranges = {tp: r for tp, r in ranges.items() if r[1] > r[0]}
    if not ranges:
        return
    with TopicReader(ranges) as reader:
        yield from reader.read_available(strict=True)


def _read_each(ranges: Ranges) -> Iterator[Record]:
    """Partition by partition: a reader of several keeps fetching past the end of those it finished
    while others catch up, which for a few records is most of the reading."""
    for tp, offsets in ranges.items():
        yield from _read({tp: offsets})


def compare_batch(
    batch: str,
    patterns: Iterable[str] | None = None,
    show: int = 5,
    batch_from: dict[tuple[str, int], int] | None = None,
    replay: dict[str, Any] | None = None,
    on_progress: Callable[[int, int, int], None] | None = None,
) -> CompareReport:
    """Compare batch ``batch`` with its originals on the result topics of ``patterns`` (all when None).

    ``batch_from``: where the topics ended before the batch was published (``result_topic_ends``), so
    pass 1 reads only what came since. ``replay``: the replay's summary, kept in the report; then the
    named patterns are reported even without results, and its ``missing`` count is the pattern's
    ``no_replay_result``. ``on_progress(pass, records read, records in its range)`` follows the passes.
    NotFound when no result of the batch is there (unless ``replay``).
    """
    topics = result_topics(patterns)
    names = [p for p in PATTERNS if result_topic(p) in topics]
    comparison = BatchComparison(batch, names, show)
    bounds = topic_bounds(topics)
    since = batch_from or {}
    first = {tp: (max(low, since.get(tp, low)), high) for tp, (low, high) in bounds.items()}
    whole = {tp: (low, high) for tp, (low, high) in bounds.items()}

    def tick(number: int, ranges: Ranges) -> Progress | None:
        if on_progress is None:
            return None
        total = sum(max(end - start, 0) for start, end in ranges.values())
        on_progress(number, 0, total)
        return lambda read: on_progress(number, read, total)

    comparison.index(_read(first), tick(1, first))
    if comparison.pending:
        comparison.join(_read(whole), tick(2, whole))
    third = comparison.missing_replay_sides()
    if third:
        comparison.fill(_read_each(third), tick(3, third))
    report = comparison.report(keep_empty=names if replay is not None else ())
    if replay is None and not report.patterns:
        raise NotFound(f"no result of batch {comparison.batch} on {', '.join(topics) or 'any result topic'}")
    if replay is not None:
        report.replay = replay
        pattern, missing = replay.get("pattern"), replay.get("missing")
        if isinstance(pattern, str) and pattern in report.patterns and isinstance(missing, int):
            report.patterns[pattern].no_replay_result = missing
    return report


# -- the report as markdown -------------------------------------------------------

HEADINGS = {
    "changed": "Changed outputs",
    "regressed": "Regressed: ok before, failing now",
    "fixed": "Fixed: failing before, ok now",
}
COUNT_COLUMNS = (
    ("replayed", "replay results"),
    ("same", "same"),
    ("changed", "changed"),
    ("regressed", "regressed"),
    ("fixed", "fixed"),
    ("still_failing", "still failing"),
    ("no_original", "no original"),
)


def counts_row(report: PatternReport) -> list[int]:
    values = {"replayed": report.replayed, "no_original": report.no_original, **report.counts}
    return [values.get(key, 0) for key, _ in COUNT_COLUMNS]


def code(text: str) -> str:
    """``text`` as inline code, whatever backticks it holds (on one line)."""
    text = " ".join(text.split())
    run = 1
    while "`" * run in text:
        run += 1
    fence = "`" * run
    return f"{fence}{text}{fence}" if run == 1 else f"{fence} {text} {fence}"


def cell(text: str) -> str:
    """One line of a table cell: pipes escaped (code spans too), line breaks as spaces."""
    return " ".join(text.replace("|", "\\|").split())


def fenced(lines: list[str], info: str = "") -> list[str]:
    """A fenced block longer than any backtick run inside it."""
    run = 3
    while any("`" * run in line for line in lines):
        run += 1
    return ["`" * run + info, *lines, "`" * run]


def models_text(models: dict[str, int]) -> str:
    return ", ".join(f"{name} ({n})" for name, n in sorted(models.items(), key=lambda kv: -kv[1])) or "none"


def markdown(report: CompareReport, compared_at: str = "") -> str:
    """The report as a markdown document: counts per pattern, then the first examples of each kind."""
    lines = [f"# Replay {report.batch}: what changed", ""]
    intro = f"Compared {compared_at}: " if compared_at else ""
    lines.append(
        f"{intro}each result of the batch against the first result of the request it replays "
        f"(`replay_of`) on the same pattern's result topic."
    )
    if report.replay is not None:
        replay = report.replay
        lines.append(
            f"The replay published {replay.get('published', 0)} request(s) to {replay.get('pattern', '?')}; "
            f"{replay.get('missing', 0)} had no result when it stopped waiting."
        )
    lines += ["", "| pattern | " + " | ".join(title for _, title in COUNT_COLUMNS) + " |"]
    lines.append("|---|" + "---:|" * len(COUNT_COLUMNS))
    for name, pattern in report.patterns.items():
        lines.append(f"| {cell(name)} | " + " | ".join(str(n) for n in counts_row(pattern)) + " |")
    for name, pattern in report.patterns.items():
        lines += ["", f"## {name}", ""]
        lines.append(
            f"Models that answered: originals {models_text(pattern.original_models)}; "
            f"replays {models_text(pattern.replay_models)}."
        )
        if pattern.no_replay_result:
            lines.append(f"{pattern.no_replay_result} replayed request(s) had no result.")
        lines += _markdown_changed(pattern)
        lines += _markdown_failures(pattern, "regressed")
        lines += _markdown_failures(pattern, "fixed")
        lines += _markdown_no_original(pattern)
    return "\n".join(lines) + "\n"


def _shown(pattern: PatternReport, outcome: str) -> str:
    total, shown = pattern.count(outcome), len(pattern.examples.get(outcome, []))
    return f" (first {shown} of {total})" if shown < total else ""


def _markdown_changed(pattern: PatternReport) -> list[str]:
    examples = pattern.examples.get("changed", [])
    if not examples:
        return []
    lines = ["", f"### {HEADINGS['changed']}{_shown(pattern, 'changed')}"]
    for example in examples:
        lines += ["", f"{code(example.request_id)}, replay of {code(example.replay_of)}:", ""]
        if example.replay is None:
            lines.append("(the replay's result is no longer on the topic)")
        else:
            lines += fenced(example.diff(), "diff")
    return lines


def _markdown_failures(pattern: PatternReport, outcome: str) -> list[str]:
    examples = pattern.examples.get(outcome, [])
    if not examples:
        return []
    lines = ["", f"### {HEADINGS[outcome]}{_shown(pattern, outcome)}", ""]
    lines += ["| replay request | replay of | before | now | error |", "|---|---|---|---|---|"]
    for e in examples:
        now = e.replay.status if e.replay else "?"
        failing = e.replay if outcome == "regressed" else e.original
        error = (failing.error or "") if failing else ""
        ids = f"{cell(code(e.request_id))} | {cell(code(e.replay_of))}"
        lines.append(f"| {ids} | {e.original.status} | {now} | {cell(error)} |")
    return lines


def _markdown_no_original(pattern: PatternReport) -> list[str]:
    if not pattern.no_original:
        return []
    shown = len(pattern.no_original_examples)
    more = f" (first {shown} of {pattern.no_original})" if shown < pattern.no_original else ""
    lines = ["", f"### No original result{more}", ""]
    for request_id, original in pattern.no_original_examples:
        named = f"replay of {code(original)}" if original else "names no original"
        lines.append(f"- {code(request_id)}: {named}")
    return lines
