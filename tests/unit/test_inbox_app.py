"""The inbox's web layer without Kafka: sign-in, sessions, CSRF, escaping, headers, throttling.

The decision path (Restate and Kafka) is covered end to end in tests/inbox/.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from starlette.testclient import TestClient

from producers.inbox.app import Inbox, build_app
from producers.inbox.feed import ApprovalFeed
from producers.inbox.login_limit import LoginLimit
from producers.inbox.reviewers import ReviewerFile
from producers.inbox.sessions import COOKIE, Sessions

PASSWORD = "correct horse battery staple"
XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"


@pytest.fixture
def inbox(tmp_path) -> Inbox:
    reviewers = ReviewerFile(tmp_path / "reviewers.json")
    reviewers.set_password("ada", PASSWORD)
    feed = ApprovalFeed(secret=b"k", pattern="human-in-the-loop")
    feed.on_approval_request(
        {
            "approval_id": "approval-1",
            "request_id": f"req-{XSS}",
            "content": f"borderline {XSS}",
            "reason": f"because {XSS}",
            "requested_at": "2026-11-28T10:00:00.000Z",
        },
        now=0,
    )
    follower = SimpleNamespace(connected=True)
    return Inbox(feed, follower, reviewers, Sessions(), LoginLimit())  # type: ignore[arg-type]


@pytest.fixture
def client(inbox) -> TestClient:
    return TestClient(build_app(inbox), follow_redirects=False)  # type: ignore[arg-type]


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def sign_in(client: TestClient, name: str = "ada", password: str = PASSWORD) -> str:
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"name": name, "password": password, "csrf": token})
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/").text)


@pytest.mark.parametrize("path", ["/", "/history", "/events", "/static/inbox.js", "/?page=2", "/nowhere"])
def test_every_path_but_sign_in_needs_a_session(client, path):
    assert client.get(path).status_code == 401
    page = client.get(path, headers={"accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"] == "/login"


@pytest.mark.parametrize("path", ["/decide", "/logout", "/nowhere"])
def test_posts_need_a_session(client, path):
    assert client.post(path, data={"approval_id": "approval-1", "decision": "approved"}).status_code == 401


def test_sign_in_sets_a_new_http_only_same_site_cookie(client):
    client.get("/login")
    anonymous = client.cookies[COOKIE]
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"name": "ada", "password": PASSWORD, "csrf": token})
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert client.cookies[COOKIE] != anonymous  # a token planted before sign-in is worth nothing
    assert "signed in as" in client.get("/").text


def test_sign_in_without_the_forms_token_is_refused(client):
    client.get("/login")
    response = client.post("/login", data={"name": "ada", "password": PASSWORD})
    assert response.status_code == 403
    assert client.get("/", headers={"accept": "text/html"}).status_code == 303


def test_wrong_passwords_are_throttled_even_before_the_right_one(client):
    token = csrf_of(client.get("/login").text)
    for _ in range(5):
        wrong = client.post("/login", data={"name": "ada", "password": "wrong password!", "csrf": token})
        assert wrong.status_code == 401 and "Wrong name or password" in wrong.text
    refused = client.post("/login", data={"name": "ada", "password": PASSWORD, "csrf": token})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "Too many failed sign-ins" in refused.text


def test_record_text_is_escaped_in_pages(client):
    sign_in(client)
    html = client.get("/").text
    assert XSS not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in html
    assert "<img" not in html and html.count("<script") == 1  # the page's own script file only


def test_every_response_carries_the_security_headers(client):
    for response in (client.get("/login"), client.get("/"), client.post("/decide")):
        headers = response.headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
        assert headers["cache-control"] == "no-store"


def test_decide_and_logout_need_the_sessions_csrf_token(client):
    csrf = sign_in(client)
    decision = {"approval_id": "approval-1", "decision": "approved"}
    assert client.post("/decide", data=decision).status_code == 403
    assert client.post("/decide", data={**decision, "csrf": "wrong"}).status_code == 403
    assert client.post("/logout", data={}).status_code == 403
    cross = client.post("/decide", data={**decision, "csrf": csrf}, headers={"origin": "https://evil.example"})
    assert cross.status_code == 403
    assert client.post("/decide", data={**decision, "csrf": csrf}, headers={"origin": "null"}).status_code == 403
    incomplete = client.post("/decide", data={"approval_id": "approval-1", "decision": "maybe", "csrf": csrf})
    assert incomplete.status_code == 303
    assert "nothing was decided" in client.get("/").text
    too_big = client.post(
        "/decide", content=b"a=" + b"x" * 20_000, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert too_big.status_code == 403  # no form read, so no token


def test_logout_ends_the_session(client):
    csrf = sign_in(client)
    assert client.post("/logout", data={"csrf": csrf}).status_code == 303
    assert client.get("/").status_code == 401


def test_a_removed_reviewer_is_signed_out_at_the_next_request(client, inbox):
    sign_in(client)
    assert client.get("/").status_code == 200
    inbox.reviewers.remove("ada")
    assert client.get("/").status_code == 401


def test_a_broken_reviewer_file_lets_nobody_in(client, inbox):
    sign_in(client)
    inbox.reviewers.path.write_text("{broken")
    assert client.get("/").status_code == 503
    assert client.get("/login").status_code == 503


def test_a_refused_request_is_read_to_its_end_before_the_refusal(inbox):
    # A refusal sent before the body arrived made hypercorn close the keep-alive connection silently;
    # the client's next request on it failed (tests/inbox, under load). The body is read first now.
    import asyncio

    from producers.inbox.app import REFUSED_BODY_DRAIN_BYTES, Guard, drain_body

    chunks = [{"type": "http.request", "body": b"approval_id=a", "more_body": True}]
    chunks += [{"type": "http.request", "body": b"&decision=approved", "more_body": False}]
    sent: list[dict] = []

    async def receive():
        return chunks.pop(0)

    async def send(message):
        sent.append(message)

    async def app(scope, receive, send):  # never reached: not signed in
        raise AssertionError("the guarded app ran")

    scope = {"type": "http", "method": "POST", "path": "/decide", "headers": [], "query_string": b""}
    asyncio.run(Guard(app, inbox)(scope, receive, send))
    assert not chunks, "the body was not read before the refusal"
    assert sent[0]["status"] == 401

    big = [{"type": "http.request", "body": b"x" * 1024, "more_body": True}] * (REFUSED_BODY_DRAIN_BYTES // 1024 + 5)

    async def endless():
        return big.pop(0)

    assert asyncio.run(drain_body(endless, REFUSED_BODY_DRAIN_BYTES)) is False  # bounded: gives up, does not hang
    assert len(big) < 5 + 2


def test_one_session_cannot_take_every_stream(client, inbox):
    from producers.inbox.app import MAX_STREAMS_PER_SESSION

    sign_in(client)
    token = client.cookies[COOKIE]
    inbox.streams_of[token] = MAX_STREAMS_PER_SESSION  # as if this many were open
    refused = client.get("/events")
    assert refused.status_code == 429 and "streams open already" in refused.text
    assert inbox.streams_of[token] == MAX_STREAMS_PER_SESSION  # the refusal opened none


def test_a_removed_reviewer_sees_no_more_of_the_feed(client, inbox):
    # Checked before every event the stream sends, not only after 15 quiet seconds.
    from producers.inbox.app import may_still_see

    sign_in(client)
    token = client.cookies[COOKIE]
    assert may_still_see(inbox, token)
    inbox.reviewers.remove("ada")
    assert not may_still_see(inbox, token)
    assert inbox.sessions.get(token) is None  # the session ended with the account
    assert not may_still_see(inbox, "no-such-session")
