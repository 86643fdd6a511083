"""Runs the inbox with hypercorn until SIGINT or SIGTERM, or until the feed gives up on Kafka."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import structlog
from hypercorn.asyncio import serve
from hypercorn.config import Config

from producers.approval_key import require_approval_secret
from producers.approvals import HITL
from producers.errors import InvalidInput, Unreachable
from producers.inbox.app import Inbox, build_app
from producers.inbox.feed import ApprovalFeed
from producers.inbox.follower import FeedFollower
from producers.inbox.login_limit import LoginLimit
from producers.inbox.reviewers import ReviewerFile, unknown_name_hash
from producers.inbox.sessions import Sessions

log = structlog.get_logger("inbox")

READY_TIMEOUT_S = 60.0


async def run_inbox(host: str, port: int, reviewers_file: Path, cookie_secure: bool) -> None:
    secret = require_approval_secret()  # decisions are signed here; without the key nothing could be
    reviewers = ReviewerFile(reviewers_file)
    if not reviewers.names():
        raise InvalidInput(f"no reviewers in {reviewers_file}: add one with `agentpipe inbox add-reviewer NAME`")
    unknown_name_hash()  # made now, so the first sign-in with an unknown name takes no longer than others
    loop = asyncio.get_running_loop()
    feed = ApprovalFeed(secret=secret, pattern=HITL)
    follower = FeedFollower(feed, loop)
    follower.start()
    try:
        await asyncio.wait_for(follower.ready.wait(), READY_TIMEOUT_S)
    except TimeoutError:
        follower.stop()
        raise Unreachable(f"the inbox could not read Kafka and Restate within {READY_TIMEOUT_S:.0f}s") from None
    if follower.failure is not None:
        raise Unreachable(f"the inbox could not read Kafka and Restate: {follower.failure}")
    inbox = Inbox(feed, follower, reviewers, Sessions(), LoginLimit(), cookie_secure=cookie_secure)

    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None  # requests carry session cookies; decisions are logged by the app
    config.graceful_timeout = 2.0
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    reconcile = asyncio.create_task(follower.reconcile_forever())
    gave_up = asyncio.create_task(follower.failed.wait())
    gave_up.add_done_callback(lambda _: stop.set())
    log.info("inbox serving", url=f"http://{host}:{port}/", pending=len(feed.pending))
    try:
        await serve(build_app(inbox), config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
    finally:
        reconcile.cancel()
        gave_up.cancel()
        follower.stop()
    if follower.failure is not None:
        raise Unreachable(f"the inbox lost Kafka or Restate and stopped: {follower.failure}")
