"""The review inbox as a reviewer meets it: a real `agentpipe inbox` process and headless Chromium.

Chromium and its driver come from Debian (`./dev setup` installs them); Selenium is pointed
at them, so nothing is downloaded. A missing browser fails the tests, it never skips them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.cli.cli_run import COMMAND, ROOT, agentpipe
from tests.ports import free_port

PASSWORD = "correct horse battery staple"
CHROMIUM = os.environ.get("AGENTPIPE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("AGENTPIPE_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")


class InboxServer:
    def __init__(self, reviewers_file: Path, log_file: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "AGENTPIPE_INBOX_REVIEWERS_FILE": str(reviewers_file)}
        self.log_file = log_file
        self.process: subprocess.Popen | None = None

    def add_reviewer(self, name: str, password: str = PASSWORD) -> None:
        proc = agentpipe("inbox", "add-reviewer", name, "--password-stdin", stdin=password + "\n", env=self.env)
        assert proc.returncode == 0, proc.stderr

    def start(self) -> None:
        with self.log_file.open("w") as log:
            self.process = subprocess.Popen(
                [*COMMAND, "inbox", "--port", str(self.port)], cwd=ROOT, env=self.env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"agentpipe inbox exited with {self.process.returncode}:\n{self.log_file.read_text()}")
            try:
                if httpx.get(f"{self.url}/login", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        pytest.fail(f"agentpipe inbox did not answer within 90 s:\n{self.log_file.read_text()}")

    def stop(self) -> int | None:
        if self.process is None:
            return None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@contextmanager
def chromium() -> Iterator[WebDriver]:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not shutil.which(path):
            pytest.fail(f"{path} is missing: install Debian's {package} (./dev setup does)", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def sign_in(driver: WebDriver, url: str, name: str, password: str = PASSWORD) -> None:
    driver.get(f"{url}/login")
    driver.find_element(By.NAME, "name").send_keys(name)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.ID, "pending"))


def row(driver: WebDriver, approval_id: str) -> list:
    return driver.find_elements(By.CSS_SELECTOR, f'li.approval[data-approval-id="{approval_id}"]')


def wait_until(driver: WebDriver, condition, timeout: float = 60, message: str = "") -> None:
    WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: condition(d), message)


def http_session(driver: WebDriver, url: str) -> httpx.Client:
    """An HTTP client that carries the browser's session cookie, for requests a page would never send."""
    client = httpx.Client(base_url=url, timeout=30, follow_redirects=False)
    for cookie in driver.get_cookies():
        client.cookies.set(cookie["name"], cookie["value"], domain="127.0.0.1")
    return client
