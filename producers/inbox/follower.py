"""Keeps the feed current: a thread reads Kafka, a task asks Restate now and then.

The thread reads the last records of the approval-request, approvals and result topics
first (so the history and the id maps are there at once), then asks Restate what is
pending, then follows the topics. Records are handed to the event loop, which owns the
feed. Restate's pending list is asked again every ``reconcile_s`` seconds, which catches
what no record announces (a review cancelled, a record older than the window).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from functools import partial

import structlog
from confluent_kafka import KafkaException

from agentpipe.topics import approval_requests_topic, approvals_topic, result_topic
from producers.approval_state import ApprovalState
from producers.broker import Record, TopicReader
from producers.errors import ClientError
from producers.inbox.feed import ApprovalFeed, BoundedSet, PendingItem

log = structlog.get_logger("inbox")

WINDOW_RECORDS = 2_000  # per partition: what the history and the id maps start from
# Consecutive failures to reach Kafka or Restate (backing off up to 30 s) before the inbox gives up.
MAX_RECONNECTS = 10


def pending_items(pattern: str) -> list[PendingItem]:
    return [PendingItem.of(approval.request, pattern) for approval in ApprovalState().pending()]


class FeedFollower:
    def __init__(self, feed: ApprovalFeed, loop: asyncio.AbstractEventLoop, reconcile_s: float = 10.0):
        self.feed, self.loop, self.reconcile_s = feed, loop, reconcile_s
        self.requests_topic = approval_requests_topic()
        self.approvals_topic = approvals_topic()
        self.results_topic = result_topic(feed.pattern)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ready = asyncio.Event()  # the first window is read: pages may be served
        self.failed = asyncio.Event()  # gave up reconnecting: the server stops
        self.connected = False
        self.seen = BoundedSet(500_000)
        self._window_read = False
        self._ever_read = False
        self.failure: BaseException | None = None

    # --- records into the feed (on the event loop) -----------------------------------------

    def apply(self, records: list[Record], live: bool) -> None:
        now = time.monotonic()
        for record in records:
            position = f"{record.topic}/{record.partition}/{record.offset}"
            if position in self.seen:
                continue  # read again after a reconnect
            self.seen.add(position)
            value = record.json()
            if record.topic == self.requests_topic:
                self.feed.on_approval_request(value, now, live=live)
            elif record.topic == self.approvals_topic:
                self.feed.on_decision(value, (record.partition, record.offset), record.timestamp_ms)
            elif record.topic == self.results_topic:
                self.feed.on_result(value, record.timestamp_ms)

    def _hand(self, call: Callable[[], None]) -> None:
        self.loop.call_soon_threadsafe(call)

    # --- the thread ------------------------------------------------------------------------

    def _follow_once(self) -> None:
        topics = [self.requests_topic, self.approvals_topic, self.results_topic]
        with TopicReader.open_window(topics, last=WINDOW_RECORDS) as reader:
            # Records that arrive while the window is read come with it; an approval requested in
            # that moment is in Restate's pending list (asked next) or in the next reconcile.
            window = list(reader.read_available())
            self._window_read = self._ever_read = True
            pending = pending_items(self.feed.pattern)
            self._hand(partial(self._start, window, pending))
            while not self._stop.is_set():
                records = reader.poll_batch(0.5)
                if records:
                    self._hand(partial(self.apply, records, True))

    def _start(self, window: list[Record], pending: list[PendingItem]) -> None:
        self.apply(window, live=False)
        self.feed.reconcile(pending, time.monotonic())
        self.connected = True
        self.ready.set()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._follow_once()
                return
            except (ClientError, KafkaException, OSError) as exc:
                if not self._ever_read:  # never got going: the server should not start at all
                    self.failure = exc
                    self._hand(self.ready.set)
                    return
                failures = 1 if self._window_read else failures + 1  # counts failures in a row
                self._window_read = False
                self._hand(partial(setattr, self, "connected", False))
                log.warning("inbox feed lost Kafka or Restate", error=str(exc), attempt=failures)
                if failures >= MAX_RECONNECTS:
                    self.failure = exc
                    self._hand(self.ready.set)
                    self._hand(self.failed.set)
                    return
                self._stop.wait(min(30.0, 2.0**failures))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="inbox-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    async def reconcile_forever(self) -> None:
        while True:
            await asyncio.sleep(self.reconcile_s)
            try:
                pending = await asyncio.to_thread(pending_items, self.feed.pattern)
            except ClientError as exc:
                log.warning("pending approvals could not be read from Restate", error=str(exc))
                continue
            self.feed.reconcile(pending, time.monotonic())
