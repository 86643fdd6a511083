"""The review inbox in headless Chromium, against the real stack: approvals produced through
Kafka appear without a reload, a reviewer's decision is signed on the server and reaches the
result topic with their name, hostile content stays text, and nothing works without a session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from agentpipe.topics import result_topic
from producers.approval_state import ApprovalState
from tests.cli.cli_run import agentpipe
from tests.conftest import TEST_STATE_DIR
from tests.inbox.browser import InboxServer, chromium, http_session, row, sign_in, wait_until
from tests.kafka_io import TopicReader, new_id, send_request

HITL = "human-in-the-loop"
SCREENSHOT_DIR = Path(os.environ.get("AGENTPIPE_SCREENSHOT_DIR", TEST_STATE_DIR))


@pytest.fixture(scope="module")
def inbox(stack, tmp_path_factory):
    folder = tmp_path_factory.mktemp("inbox")
    server = InboxServer(folder / "reviewers.json", folder / "inbox.log")
    server.add_reviewer("alice")
    server.add_reviewer("bob")
    server.start()
    yield server
    assert server.stop() == 0, server.log_file.read_text()  # SIGTERM is a clean stop
    log = server.log_file.read_text()
    assert "correct horse" not in log and "signature" not in log  # no password, no signature in the log


def moderation(content: str) -> str:
    """A human-in-the-loop request through Kafka whose content the model hands to a person."""
    request_id = new_id("inbox")
    send_request(HITL, {"request_id": request_id, "content": content})
    return request_id


def approval_id_of(driver, request_id: str, timeout: float = 60) -> str:
    """Waits, without reloading, until the request's approval shows in the list."""
    selector = "li.approval"

    def shown(d):
        return [
            li.get_attribute("data-approval-id")
            for li in d.find_elements(By.CSS_SELECTOR, selector)
            if li.find_element(By.CSS_SELECTOR, ".request-id").text == request_id
        ]

    wait_until(driver, lambda d: shown(d), timeout, f"approval of {request_id} never appeared")
    return shown(driver)[0]


def mark_page(driver) -> None:
    """A value that only survives while the page is not reloaded."""
    driver.execute_script("window.__sameDocument = 'yes'")


def same_document(driver) -> bool:
    return driver.execute_script("return window.__sameDocument || null") == "yes"


def test_approve_with_a_comment_reaches_the_result_topic(inbox):
    with chromium() as driver, TopicReader.open([result_topic(HITL)], from_beginning=False) as results:
        sign_in(driver, inbox.url, "alice")
        mark_page(driver)
        contents = [
            "A borderline meme about the quarterly report; might be satire.",
            "Is this joke borderline? Customers might take it literally.",
            "Borderline product claim: 'the fastest pipeline in the world'.",
        ]
        request_ids = [moderation(text) for text in contents]
        approvals = [approval_id_of(driver, request_id) for request_id in request_ids]
        assert same_document(driver), "the approvals appeared only after a reload"
        shown = [w.get_attribute("data-requested-at") for w in driver.find_elements(By.CSS_SELECTOR, "li .waited")]
        assert shown == sorted(shown), "not oldest first"
        driver.save_screenshot(str(SCREENSHOT_DIR / "inbox.png"))

        target = row(driver, approvals[0])[0]
        assert target.find_element(By.CSS_SELECTOR, "pre.content").text == contents[0]
        assert "Not sure" in target.find_element(By.CSS_SELECTOR, ".reason-text").text
        assert target.find_element(By.CSS_SELECTOR, ".pattern").text == HITL
        target.find_element(By.NAME, "comment").send_keys("satire, fine to publish")
        target.find_element(By.CSS_SELECTOR, "button.approve").click()

        # "won" once the result confirms it (the inbox waits up to 10 s), "info" (sent) on a slower pipeline.
        shown = ".flash.won, .flash.info"
        wait_until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, shown), 30, "no confirmation shown")
        assert approvals[0] in driver.find_element(By.CSS_SELECTOR, shown).text
        assert not driver.find_elements(By.CSS_SELECTOR, ".flash.lost, .flash.error")
        assert not row(driver, approvals[0])
        seen = results.collect(lambda rs: any(r["value"]["request_id"] == request_ids[0] for r in rs), timeout=60)
        result = next(r["value"] for r in seen if r["value"]["request_id"] == request_ids[0])
        assert result["status"] == "ok"
        assert result["output"] == "approved by alice: satire, fine to publish"

        driver.get(f"{inbox.url}/history")
        entry = driver.find_element(By.CSS_SELECTOR, f'tr.entry[data-approval-id="{approvals[0]}"]')
        assert entry.find_element(By.CSS_SELECTOR, ".reviewer").text == "alice"
        assert entry.find_element(By.CSS_SELECTOR, ".comment").text == "satire, fine to publish"
        wait_until(
            driver, lambda d: d.find_element(By.CSS_SELECTOR, f'tr.entry[data-approval-id="{approvals[0]}"] .counted')
        )

        # The other two are decided with the CLI: they leave the open page without a reload.
        driver.get(inbox.url)
        mark_page(driver)
        for approval_id in approvals[1:]:
            assert row(driver, approval_id)
            proc = agentpipe("reject", approval_id, "--reviewer", "carol", "--comment", "not now")
            assert proc.returncode == 0, proc.stderr
        wait_until(driver, lambda d: not any(row(d, a) for a in approvals[1:]), 60, "CLI decisions never left the list")
        assert same_document(driver)


def submit_decision(driver, csrf: str, approval_id: str, decision: str, comment: str) -> None:
    """Sends the decide form the way the page does, for an approval the live list already dropped."""
    driver.execute_script(
        """const f = document.createElement('form'); f.method = 'post'; f.action = '/decide';
           for (const [k, v] of Object.entries(arguments[0])) {
             const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i);
           }
           document.body.appendChild(f); f.submit();""",
        {"csrf": csrf, "approval_id": approval_id, "decision": decision, "comment": comment},
    )


def lost_message(driver) -> str:
    wait_until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".flash.lost"), 30, "the lost race was not shown")
    message = driver.find_element(By.CSS_SELECTOR, ".flash.lost").text
    assert driver.find_elements(By.ID, "pending")  # the page, not an error
    return message


def test_a_decision_that_lost_the_race_is_shown_as_such(inbox):
    with chromium() as driver:
        sign_in(driver, inbox.url, "bob")
        csrf = driver.find_element(By.ID, "pending").get_attribute("data-csrf")

        # Someone else decides first; this reviewer's form still goes out.
        approval_id = approval_id_of(driver, moderation("A borderline slogan that might offend."))
        proc = agentpipe("approve", approval_id, "--reviewer", "carol", "--wait")
        assert proc.returncode == 0, proc.stderr
        submit_decision(driver, csrf, approval_id, "rejected", "too late")
        message = lost_message(driver)
        assert "Not applied" in message and "approved by carol" in message

        # The request is cancelled while the reviewer reads it.
        request_id = moderation("Borderline wording that might be fine.")
        approval_id = approval_id_of(driver, request_id)
        proc = agentpipe("cancel", request_id)
        assert proc.returncode == 0, proc.stderr
        submit_decision(driver, csrf, approval_id, "approved", "")
        message = lost_message(driver)
        assert "Not applied" in message and "cancelled" in message, message
        wait_until(driver, lambda d: not row(d, approval_id), 30, "the cancelled review stayed in the list")


def test_content_with_markup_renders_as_text(inbox):
    payload = (
        "A borderline post <script>window.__xss = 'script'</script>"
        "<img src=x onerror=\"window.__xss = 'img'\"> might be satire"
    )
    with chromium() as driver:
        sign_in(driver, inbox.url, "alice")
        request_id = moderation(payload)
        approval_id = approval_id_of(driver, request_id)  # arrived through the live stream
        driver.refresh()  # and rendered by the server
        for _ in ("stream", "server"):
            item = row(driver, approval_id)[0]
            assert item.find_element(By.CSS_SELECTOR, "pre.content").text == payload
            assert not item.find_elements(By.TAG_NAME, "img")
            assert not item.find_elements(By.TAG_NAME, "script")
            assert driver.execute_script("return window.__xss || null") is None
        agentpipe("reject", approval_id, "--reviewer", "test")


def test_nothing_without_signing_in(inbox):
    request_id = moderation("A borderline remark, might be fine.")
    with chromium() as driver:
        for path in ("/", "/history", "/?page=2"):
            driver.get(inbox.url + path)
            assert driver.current_url == f"{inbox.url}/login", path
        assert not driver.find_elements(By.ID, "pending")
        client = http_session(driver, inbox.url)  # only an anonymous sign-in session
        sign_in(driver, inbox.url, "alice")
        approval_id = approval_id_of(driver, request_id)
    for path in ("/events", "/static/inbox.js", "/history", "/nowhere"):
        assert client.get(path).status_code == 401, path
    refused = client.post("/decide", data={"approval_id": approval_id, "decision": "approved"})
    assert refused.status_code == 401
    assert "sign in" in refused.text
    wrong = client.post("/login", data={"name": "alice", "password": "not the password"})
    assert wrong.status_code == 403  # the anonymous session's CSRF token is missing
    found = ApprovalState().find(approval_id)
    assert found is not None and found.status == "pending"
    agentpipe("reject", approval_id, "--reviewer", "test")


def test_posts_without_the_csrf_token_are_refused(inbox):
    with chromium() as driver:
        sign_in(driver, inbox.url, "alice")
        request_id = moderation("Borderline advice that might mislead.")
        approval_id = approval_id_of(driver, request_id)
        csrf = driver.find_element(By.ID, "pending").get_attribute("data-csrf")
        client = http_session(driver, inbox.url)  # the signed-in session's cookie
        decision = {"approval_id": approval_id, "decision": "approved"}
        assert client.post("/decide", data=decision).status_code == 403
        assert client.post("/decide", data={**decision, "csrf": "x" * 43}).status_code == 403
        cross = client.post("/decide", data={**decision, "csrf": csrf}, headers={"origin": "http://evil.example"})
        assert cross.status_code == 403
        assert client.post("/logout", data={}).status_code == 403
        found = ApprovalState().find(approval_id)
        assert found is not None and found.status == "pending"
        # The same session with the token decides: the refusals above were about the token only.
        accepted = client.post("/decide", data={**decision, "csrf": csrf, "comment": "checked"})
        assert accepted.status_code == 303
        wait_until(driver, lambda d: not row(d, approval_id), 60, "the approved one stayed in the list")
