"""A web page in a local browser, and a DNS-rebinding page, against the local stack's ports.

restate-server answers any origin's CORS preflight and checks no Host header; in the local stack
it listens on Unix sockets in the state folder, and the front (stack/front.py) takes its ports.
"""

from __future__ import annotations

import json
import stat

import httpx
import psutil
import pytest

from agentpipe.settings import get_settings

EVIL = "https://evil.example"


def ingress() -> str:
    return get_settings().restate_ingress_url


def admin() -> str:
    return get_settings().restate_admin_url


def test_a_page_of_another_origin_cannot_call_the_ingress(stack):
    preflight = httpx.options(
        f"{ingress()}/CallChainingService/run",
        headers={
            "origin": EVIL,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
        timeout=10,
    )
    assert preflight.status_code == 403 and "access-control-allow-origin" not in preflight.headers
    # A "simple" request needs no preflight; the browser names its origin and the front refuses it.
    simple = httpx.post(
        f"{ingress()}/CallChainingService/run",
        content=b'{"message": "from a page"}',
        headers={"origin": EVIL, "content-type": "text/plain"},
        timeout=10,
    )
    assert simple.status_code == 403 and "access-control-allow-origin" not in simple.headers
    assert httpx.post(f"{ingress()}/CallChainingService/run", json={}, timeout=60).status_code == 200  # curl may


@pytest.mark.parametrize("which", ["ingress", "admin"])
def test_a_rebound_host_name_is_refused(stack, which):
    base = ingress() if which == "ingress" else admin()
    path = "/restate/health" if which == "ingress" else "/health"
    response = httpx.get(base + path, headers={"host": "rebound.evil.example"}, timeout=10)
    assert response.status_code == 421, response.text
    assert httpx.get(base + path, timeout=10).status_code == 200


def test_restates_own_routes_are_not_served(stack):
    for path in ("/restate/workflow/ApprovalReview/approval-x/output", "/restate/invocation/inv_x/attach"):
        assert httpx.get(ingress() + path, timeout=10).status_code == 404, path
    assert httpx.post(f"{ingress()}/restate/awakeables/sign_x/resolve", json={}, timeout=10).status_code == 404


def test_restate_server_listens_on_no_tcp_port_but_its_nodes(stack):
    status = json.loads((get_settings().state_dir / "status.json").read_text())
    restate = {info["pid"] for name, info in status["components"].items() if name.startswith("restate")}
    ports = {
        c.laddr.port for c in psutil.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN and c.pid in restate
    }
    settings = get_settings()
    assert settings.restate_ingress_port not in ports and settings.restate_admin_port not in ports, ports
    mode = stat.S_IMODE(settings.state_dir.stat().st_mode)
    assert mode == 0o700, oct(mode)  # its sockets are in here: only the owner reaches them
