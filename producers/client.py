"""The importable client: send requests to a pattern, read results once per request id, wait for them.

    client = AgentpipeClient()
    with client.watch_results(["chaining"]) as results:   # open before sending: no result is missed
        sent = client.send("chaining", {"message": "Revenue grew by 12%."})
        result = results.wait_for_sent([sent], timeout=60)[sent.request_id]

The request id always travels in the body: Restate's Kafka ingress hands the
handlers the record's topic, partition, offset and key, but not its headers.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from agentpipe.messages import AgentResult
from agentpipe.patterns import PATTERNS
from agentpipe.topics import request_topic, result_topic
from producers.broker import Publisher, Record, TopicReader, cluster_metadata
from producers.errors import InvalidInput
from producers.shapes import SkipCount, as_result


def new_request_id(prefix: str = "req") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def require_pattern(name: str) -> str:
    if name not in PATTERNS:
        raise InvalidInput(f"unknown pattern {name!r}; choose from: {', '.join(PATTERNS)}")
    return name


def first_line(output: str | list[str] | None) -> str:
    """The first non-empty line of a result's output (a list output: of its first item)."""
    text = output[0] if isinstance(output, list) and output else output
    for line in str(text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def require_key(pattern: str, key: str | None) -> None:
    if PATTERNS[require_pattern(pattern)].keyed and not key:
        raise InvalidInput(f"pattern {pattern!r} needs a key: the session id (--key)")


@dataclass(frozen=True)
class SentRequest:
    request_id: str
    pattern: str
    topic: str
    partition: int
    offset: int
    key: str | None
    sent_at: float = field(default_factory=time.monotonic, compare=False)


class RecentKeys:
    """A set that forgets its oldest keys past ``limit``: de-duplication in bounded memory.

    A repeated publish lands close to the first copy, so remembering the last
    ``limit`` keys catches it on topics of any length.
    """

    def __init__(self, limit: int = 200_000):
        self._keys: OrderedDict[tuple, None] = OrderedDict()
        self._limit = limit

    def add(self, key: tuple) -> bool:
        """True when ``key`` is new."""
        if key in self._keys:
            return False
        self._keys[key] = None
        if len(self._keys) > self._limit:
            self._keys.popitem(last=False)
        return True


class ResultStream:
    """Records of result topics as results (``AgentResult``), each (pattern, request id) once.

    A repeated publish of a result is dropped; a request id used by two patterns
    gives two results. The pattern is the one of the topic the record came on.
    Records that are not results are skipped and counted in ``skipped``.
    """

    def __init__(self, reader: TopicReader, extra_topics: Iterable[str] = ()):
        self.reader = reader
        self._extra = set(extra_topics)
        self.seen = RecentKeys()
        self.skipped = SkipCount()

    def parse(self, record: Record) -> AgentResult | None:
        """The result in ``record``, or None (counted) for a record that is not a result."""
        result = as_result(record.json())
        if result is None:
            self.skipped.add()
        return result

    def accept(self, record: Record) -> AgentResult | None:
        """The result in ``record``, or None for a duplicate or a record that is not a result."""
        result = self.parse(record)
        if result is None or not self.seen.add((record.topic, result.request_id)):
            return None
        return result

    def _results(self, records: Iterable[Record], on_other: Callable[[Record], None] | None) -> Iterator[AgentResult]:
        for record in records:
            if record.topic in self._extra:
                if on_other is not None:
                    on_other(record)
                continue
            result = self.accept(record)
            if result is not None:
                yield result

    def available(self) -> Iterator[AgentResult]:
        """The results on the topics now (the reader's ranges)."""
        return self._results(self.reader.read_available(strict=True), None)

    def follow(self, on_other: Callable[[Record], None] | None = None) -> Iterator[AgentResult]:
        """Results as they arrive, until the caller stops iterating."""
        return self._results(self.reader.follow(), on_other)

    def wait_for(
        self,
        request_ids: Iterable[str],
        timeout: float,
        on_result: Callable[[AgentResult], None] | None = None,
        on_other: Callable[[Record], None] | None = None,
    ) -> dict[str, AgentResult]:
        """Results of ``request_ids`` that arrive within ``timeout``; missing ids are simply absent."""
        wanted = set(request_ids)
        return self._wait(lambda result: result.request_id in wanted, len(wanted), timeout, on_result, on_other)

    def wait_for_sent(
        self,
        sent: Iterable[SentRequest],
        timeout: float,
        on_result: Callable[[AgentResult], None] | None = None,
        on_other: Callable[[Record], None] | None = None,
    ) -> dict[str, AgentResult]:
        """Results of the records in ``sent``, by request id.

        A result names its request record in ``source``: a result for the same id
        from an older record (an id used twice) is not the answer to this one.
        """
        by_id = {s.request_id: (s.topic, s.partition, s.offset) for s in sent}

        def answers(result: AgentResult) -> bool:
            coordinates = by_id.get(result.request_id)
            source = result.source
            return coordinates is not None and (
                source is None or (source.topic, source.partition, source.offset) == coordinates
            )

        return self._wait(answers, len(by_id), timeout, on_result, on_other)

    def _wait(
        self,
        answers: Callable[[AgentResult], bool],
        count: int,
        timeout: float,
        on_result: Callable[[AgentResult], None] | None,
        on_other: Callable[[Record], None] | None,
    ) -> dict[str, AgentResult]:
        found: dict[str, AgentResult] = {}
        deadline = time.monotonic() + timeout
        while len(found) < count and time.monotonic() < deadline:
            record = self.reader.poll(min(0.2, max(deadline - time.monotonic(), 0.01)))
            if record is None:
                continue
            if record.topic in self._extra:
                if on_other is not None:
                    on_other(record)
                continue
            # Matched before de-duplication: an older result of a reused id must not hide this one.
            result = self.parse(record)
            if result is not None and result.request_id not in found and answers(result):
                found[result.request_id] = result
                if on_result is not None:
                    on_result(result)
        return found

    def close(self) -> None:
        self.reader.close()

    def __enter__(self) -> ResultStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AgentpipeClient:
    """Requests out, results in; checks the broker answers when it is made."""

    def __init__(self) -> None:
        cluster_metadata()  # fail fast, with one line, when the broker is not there
        self._publisher = Publisher()

    def send(
        self,
        pattern: str,
        body: dict | None = None,
        *,
        key: str | None = None,
        request_id: str | None = None,
    ) -> SentRequest:
        """Publish one request and wait for the broker's ack."""
        sent = self.send_many(pattern, [(body or {}, key, request_id)])
        return sent[0]

    def send_many(
        self,
        pattern: str,
        requests: Iterable[tuple[dict, str | None, str | None]],
        on_delivery: Callable[[], None] | None = None,
    ) -> list[SentRequest]:
        """Publish (body, key, request_id) triples in one batch; a missing id is generated."""
        require_pattern(pattern)
        topic = request_topic(pattern)
        prepared = []
        for body, key, request_id in requests:  # validate all before publishing any
            require_key(pattern, key)
            body = {**body, "request_id": request_id or body.get("request_id") or new_request_id(pattern)}
            prepared.append((body, key))
        for body, key in prepared:
            self._publisher.publish(
                topic, body, key=key, headers={"request-id": body["request_id"]}, on_delivery=on_delivery
            )
        coordinates = self._publisher.flush()
        return [
            SentRequest(body["request_id"], pattern, topic, p, o, key)
            for (body, key), (p, o) in zip(prepared, coordinates, strict=True)
        ]

    @property
    def publisher(self) -> Publisher:
        return self._publisher

    def watch_results(
        self, patterns: Iterable[str], from_beginning: bool = False, extra_topics: Iterable[str] = ()
    ) -> ResultStream:
        """A stream over the result topics of ``patterns`` (plus ``extra_topics``, handed to ``on_other``)."""
        extra = list(extra_topics)
        topics = [result_topic(require_pattern(p)) for p in patterns] + extra
        return ResultStream(TopicReader.open(topics, from_beginning), extra)

    def request(
        self,
        pattern: str,
        body: dict | None = None,
        *,
        key: str | None = None,
        request_id: str | None = None,
        timeout: float = 120.0,
    ) -> AgentResult | None:
        """Send and wait: the result, or None when it did not arrive within ``timeout``."""
        with self.watch_results([pattern]) as results:
            sent = self.send(pattern, body, key=key, request_id=request_id)
            return results.wait_for_sent([sent], timeout).get(sent.request_id)
