"""The inbox's routes: sign-in, the pending list, decisions, history, and the live event stream.

Every path but /login needs a signed-in session (pages redirect to /login, everything else
gets 401); every POST needs the session's CSRF token and, when the browser names an origin,
this server's own. Text from records reaches the page only through Jinja's autoescaping or,
in the browser, through textContent. A content security policy that allows no inline script
backs that up.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import structlog
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from agentpipe.topics import approvals_topic
from producers.approval_state import ApprovalState
from producers.approvals import check_decidable, signed_event
from producers.broker import Publisher
from producers.errors import ClientError, InvalidInput, NotFound, NotOk
from producers.inbox.feed import PAGE_SIZE, ApprovalFeed, Change, HistoryEntry
from producers.inbox.follower import FeedFollower
from producers.inbox.login_limit import LoginLimit
from producers.inbox.reviewers import ReviewerFile
from producers.inbox.sessions import COOKIE, Session, Sessions

log = structlog.get_logger("inbox")

HERE = Path(__file__).parent
OPEN_PATHS = {"/login"}
MAX_FORM_BYTES = 16 * 1024
MAX_COMMENT_CHARS = 2000
MAX_STREAMS = 500
# One session (a tab or a few) needs a stream or two; a session that opens more is not a reviewer's.
MAX_STREAMS_PER_SESSION = 4
MAX_VERIFYING = 4  # concurrent password checks; more sign-ins at once are asked to retry
KEEPALIVE_S = 15.0
DECISION_WAIT_S = 10.0
FEED_CATCH_UP_S = 5.0  # how long a refused decision waits for the feed to name who decided
ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]

CSS = (HERE / "static" / "inbox.css").read_text()
CSS_HASH = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
SECURITY_HEADERS = {
    "content-security-policy": (
        f"default-src 'none'; script-src 'self'; style-src 'sha256-{CSS_HASH}'; connect-src 'self'; "
        "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    # same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on its own forms.
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


@dataclass
class Inbox:
    """Everything the routes share."""

    feed: ApprovalFeed
    follower: FeedFollower
    reviewers: ReviewerFile
    sessions: Sessions
    login_limit: LoginLimit
    cookie_secure: bool = False
    streams_of: Counter[str] = field(default_factory=Counter)  # open streams per session token
    verifying: int = 0  # sign-ins being checked now: each argon2 check holds 64 MiB for a moment

    @property
    def streams(self) -> int:
        return sum(self.streams_of.values())


templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))


def page(inbox: Inbox, template: str, session: Session | None, status: int = 200, **values: Any) -> HTMLResponse:
    flash = session.flash[:] if session else []
    if session:
        session.flash.clear()
    html = templates.get_template(template).render(
        css=CSS,
        reviewer=session.reviewer if session else None,
        csrf=session.csrf if session else "",
        total=len(inbox.feed.pending),
        flash=flash,
        **values,
    )
    return HTMLResponse(html, status_code=status)


def set_cookie(inbox: Inbox, response: Response, session: Session) -> Response:
    response.set_cookie(
        COOKIE,
        session.token,
        httponly=True,
        samesite="strict",
        secure=inbox.cookie_secure,
        path="/",
        max_age=int(inbox.sessions.lifetime_s),
    )
    return response


async def read_form(request: Request) -> dict[str, str]:
    """A small urlencoded form, read with a size cap; one value per field."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return {}
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    try:
        fields = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=20, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {name: values[0] for name, values in fields.items()}


def csrf_refused() -> Response:
    return PlainTextResponse("missing or wrong CSRF token", status_code=403)


def session_of(request: Request) -> Session:
    session: Session = request.state.session
    return session


FormHandler = Callable[[Request, Session, dict[str, str]], Awaitable[Response]]


def csrf_checked(handler: FormHandler) -> Callable[[Request], Awaitable[Response]]:
    """A signed-in reviewer's form post: ``handler`` gets the session and the form only when the form
    carries the session's CSRF token; otherwise 403."""

    @functools.wraps(handler)
    async def checked(request: Request) -> Response:
        session = session_of(request)
        form = await read_form(request)
        if not session.csrf_ok(form.get("csrf")):
            return csrf_refused()
        return await handler(request, session, form)

    return checked


# --- sign-in ------------------------------------------------------------------------------


async def login_page(request: Request) -> Response:
    inbox: Inbox = request.app.state.inbox
    session = request.state.session
    if session is not None and session.reviewer is not None:
        return RedirectResponse("/", status_code=303)
    session = session or inbox.sessions.start()
    return set_cookie(inbox, page(inbox, "login.html", session, name="", error=""), session)


async def login(request: Request) -> Response:
    inbox: Inbox = request.app.state.inbox
    session: Session | None = request.state.session
    form = await read_form(request)
    name = form.get("name", "")[:64]
    if session is None or not session.csrf_ok(form.get("csrf")):
        fresh = inbox.sessions.start()
        error = "The sign-in form had expired; please sign in again."
        return set_cookie(inbox, page(inbox, "login.html", fresh, 403, name=name, error=error), fresh)
    address = request.client.host if request.client else "unknown"
    wait = inbox.login_limit.retry_after(address, name)
    if wait > 0:
        error = f"Too many failed sign-ins. Try again in {max(1, round(wait / 60))} min."
        response = page(inbox, "login.html", session, 429, name=name, error=error)
        response.headers["retry-after"] = str(int(wait) + 1)
        return response
    if inbox.verifying >= MAX_VERIFYING:
        response = page(inbox, "login.html", session, 429, name=name, error="Busy: please try again in a moment.")
        response.headers["retry-after"] = "2"
        return response
    inbox.verifying += 1
    try:
        verified = await run_in_threadpool(inbox.reviewers.verify, name, form.get("password", ""))
    finally:
        inbox.verifying -= 1
    if not verified:
        inbox.login_limit.failed(address, name)
        log.warning("inbox sign-in failed", reviewer=name, address=address)
        return page(inbox, "login.html", session, 401, name=name, error="Wrong name or password.")
    inbox.login_limit.succeeded(name)
    inbox.sessions.end(session.token)
    signed_in = inbox.sessions.start(reviewer=name)  # a new token: one planted before sign-in is worthless
    log.info("inbox sign-in", reviewer=name, address=address)
    return set_cookie(inbox, RedirectResponse("/", status_code=303), signed_in)


@csrf_checked
async def logout(request: Request, session: Session, form: dict[str, str]) -> Response:
    inbox: Inbox = request.app.state.inbox
    inbox.sessions.end(session.token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


# --- pages --------------------------------------------------------------------------------


def page_number(text: str | None) -> int:
    return int(text) if text and text.isdigit() and len(text) < 7 else 1


async def pending_page(request: Request) -> Response:
    inbox: Inbox = request.app.state.inbox
    number = page_number(request.query_params.get("page"))
    items, _, pages = inbox.feed.page(number)
    return page(
        inbox,
        "pending.html",
        session_of(request),
        active="pending",
        items=items,
        page=min(number, pages),
        pages=pages,
        page_size=PAGE_SIZE,
        connected=inbox.follower.connected,
    )


async def history_page(request: Request) -> Response:
    inbox: Inbox = request.app.state.inbox
    return page(inbox, "history.html", session_of(request), active="history", entries=inbox.feed.recent_history())


async def script(request: Request) -> Response:
    return FileResponse(HERE / "static" / "inbox.js", media_type="text/javascript")


# --- decisions ----------------------------------------------------------------------------


def publish_signed(approval_id: str, decision: str, reviewer: str, comment: str) -> tuple[int, int]:
    """Signs on the server: the reviewer never sees the approval key."""
    with Publisher() as publisher:
        publisher.publish(approvals_topic(), signed_event(approval_id, decision, reviewer, comment), key=approval_id)
        return publisher.flush()[0]


def who(entry: HistoryEntry) -> str:
    return f"{entry.decision} by {entry.reviewer or 'a reviewer'}" + (f" at {entry.at}" if entry.at else "")


@csrf_checked
async def decide(request: Request, session: Session, form: dict[str, str]) -> Response:
    inbox: Inbox = request.app.state.inbox
    back = RedirectResponse(f"/?page={page_number(form.get('page'))}", status_code=303)
    approval_id, decision, comment = form.get("approval_id", ""), form.get("decision", ""), form.get("comment", "")
    reviewer = session.reviewer or ""
    if decision not in ("approved", "rejected") or not 0 < len(approval_id) <= 256:
        session.flash.append(("error", "That form was incomplete: nothing was decided."))
        return back
    if len(comment) > MAX_COMMENT_CHARS:
        session.flash.append(("error", f"A comment has at most {MAX_COMMENT_CHARS} characters: nothing was decided."))
        return back
    try:
        await run_in_threadpool(check_decidable, ApprovalState(), approval_id)
    except (NotFound, NotOk) as exc:
        first = await decided_by(inbox.feed, approval_id)
        session.flash.append(
            ("lost", f"Not applied: {approval_id} was already {who(first)}." if first else f"Not applied: {exc}.")
        )
        return back
    except ClientError as exc:
        session.flash.append(("error", f"Restate could not be asked whether it still waits ({exc}); try again."))
        return back
    try:
        position = await run_in_threadpool(publish_signed, approval_id, decision, reviewer, comment)
    except ClientError as exc:
        session.flash.append(
            ("error", f"The decision was not confirmed by Kafka ({exc}); look at the list before deciding again.")
        )
        return back
    log.info("inbox decision published", approval_id=approval_id, decision=decision, reviewer=reviewer)
    session.flash.append(await outcome_message(inbox.feed, approval_id, position, decision))
    return back


async def decided_by(feed: ApprovalFeed, approval_id: str) -> HistoryEntry | None:
    """The decision that counted, once the feed has read it: Restate may know of it a moment before the
    feed's consumer does, so wait briefly rather than show a decision without its reviewer."""
    deadline = time.monotonic() + FEED_CATCH_UP_S
    while (first := feed.first_decision.get(approval_id)) is None and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return first


async def outcome_message(
    feed: ApprovalFeed, approval_id: str, position: tuple[int, int], decision: str
) -> tuple[str, str]:
    """Waits briefly for the pipeline to show which decision counted."""
    deadline = time.monotonic() + DECISION_WAIT_S
    while True:
        state, first = feed.outcome(approval_id, position)
        if state == "won":
            return "won", f"{decision.capitalize()}: {approval_id}."
        if state == "lost" and first is not None:
            return "lost", f"Not applied: {approval_id} was already {who(first)}."
        if state == "late":
            return "lost", f"Not applied: the review of {approval_id} had ended before your decision arrived."
        if time.monotonic() > deadline:
            return "info", f"Sent ({decision}) for {approval_id}; it leaves the list once the pipeline confirms it."
        await asyncio.sleep(0.1)


# --- the live stream ----------------------------------------------------------------------


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def may_still_see(inbox: Inbox, token: str) -> bool:
    """The stream's session is signed in and its reviewer still has an account (else the session ends)."""
    session = inbox.sessions.get(token)
    if session is None or session.reviewer is None:
        return False
    try:
        still = session.reviewer in inbox.reviewers.names()
    except InvalidInput:
        still = False  # an unreadable reviewer file lets nobody in
    if not still:
        inbox.sessions.end(token)
    return still


async def events(request: Request) -> Response:
    inbox: Inbox = request.app.state.inbox
    token = session_of(request).token
    if inbox.streams >= MAX_STREAMS:
        return PlainTextResponse("too many open streams", status_code=503)
    if inbox.streams_of[token] >= MAX_STREAMS_PER_SESSION:
        return PlainTextResponse(f"this session has {MAX_STREAMS_PER_SESSION} streams open already", status_code=429)
    number = page_number(request.query_params.get("page"))
    queue: asyncio.Queue[Change | None] = asyncio.Queue(maxsize=1000)

    def listener(change: Change) -> None:
        try:
            queue.put_nowait(change)
        except asyncio.QueueFull:  # a reader that cannot keep up starts again from a snapshot
            inbox.feed.listeners.remove(listener)
            queue.get_nowait()
            queue.put_nowait(None)

    async def stream() -> AsyncIterator[str]:
        inbox.streams_of[token] += 1
        inbox.feed.listeners.append(listener)
        connected = inbox.follower.connected
        try:
            items, total, pages = inbox.feed.page(number)
            yield sse("snapshot", {"items": [i.view() for i in items], "total": total, "pages": pages})
            while True:
                try:
                    change: Change | None = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                    quiet = False
                except TimeoutError:
                    change, quiet = None, True
                # Checked before anything is sent, not only when the feed is quiet: a reviewer removed
                # (or signed out) sees nothing more, however busy the feed.
                if not may_still_see(inbox, token):
                    yield sse("signed-out", {})
                    return
                if quiet:
                    if connected != inbox.follower.connected:
                        connected = inbox.follower.connected
                        yield sse("feed", {"connected": connected})
                    yield ": keepalive\n\n"
                    continue
                if change is None:
                    return
                total = len(inbox.feed.pending)
                if change.kind == "added" and change.item is not None:
                    yield sse("added", {"item": change.item.view(), "total": total})
                else:
                    yield sse("removed", {"approval_id": change.approval_id, "why": change.why, "total": total})
        finally:
            inbox.streams_of[token] -= 1
            if inbox.streams_of[token] <= 0:
                del inbox.streams_of[token]
            if listener in inbox.feed.listeners:
                inbox.feed.listeners.remove(listener)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"x-accel-buffering": "no"})


# --- the guard in front of every route ----------------------------------------------------


def same_origin(request: Request) -> bool:
    """A browser names the page's origin on a POST; it must be this server."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


class Guard:
    """Sessions, sign-in required, same-origin POSTs, security headers on every response."""

    def __init__(self, app: ASGIApp, inbox: Inbox):
        self.app, self.inbox = app, inbox

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + [
                    (k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()
                ]
            await send(message)

        request = Request(scope)
        session = self.inbox.sessions.get(request.cookies.get(COOKIE))
        try:
            reviewers = self.inbox.reviewers.names()
        except InvalidInput as exc:  # someone broke the file: nobody is let in until it is fixed
            log.error("inbox reviewer file unreadable", error=str(exc))
            await PlainTextResponse("the reviewer file cannot be read", 503)(scope, receive, send_with_headers)
            return
        if session is not None and session.reviewer is not None and session.reviewer not in reviewers:
            self.inbox.sessions.end(session.token)  # the account was removed: its sessions end now
            session = None
        scope.setdefault("state", {})["session"] = session
        refusal: Response | None = None
        if scope["path"] not in OPEN_PATHS and (session is None or session.reviewer is None):
            wants_page = request.method == "GET" and "text/html" in request.headers.get("accept", "")
            refusal = RedirectResponse("/login", 303) if wants_page else PlainTextResponse("sign in first", 401)
        elif request.method == "POST" and not same_origin(request):
            refusal = PlainTextResponse("cross-origin request refused", 403)
        if refusal is not None:
            # Read the body first: hypercorn closes a keep-alive connection, without saying so, when
            # the answer is sent before the request's body arrived, and the client's next request on
            # it then fails ("Server disconnected without sending a response", seen under load).
            await drain_body(receive, REFUSED_BODY_DRAIN_BYTES)
            await refusal(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


# How much of a refused request's body is read so its connection stays usable; beyond it, let it close.
REFUSED_BODY_DRAIN_BYTES = 64 * 1024


async def drain_body(receive: Callable[[], Awaitable[Any]], limit: int) -> bool:
    """Read the request's body to its end, up to ``limit`` bytes; True when the end was reached."""
    read = 0
    while read <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return False  # the client went away
        read += len(message.get("body", b""))
        if not message.get("more_body", False):
            return True
    return False


def build_app(inbox: Inbox) -> ASGIApp:
    app = Starlette(
        routes=[
            Route("/login", login_page, methods=["GET"]),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/", pending_page, methods=["GET"]),
            Route("/history", history_page, methods=["GET"]),
            Route("/decide", decide, methods=["POST"]),
            Route("/events", events, methods=["GET"]),
            Route("/static/inbox.js", script, methods=["GET"]),
        ]
    )
    app.state.inbox = inbox
    return Guard(app, inbox)
