"""The front's rules (stack/front.py): loopback Host names only, no other origin, only the public paths."""

from __future__ import annotations

import pytest

from stack.front import FrontRoute, allowed_hosts, public_paths, reachable_socket, refusal

INGRESS = FrontRoute(kind="ingress", listen=8080, backend="unix:/x/ingress.sock")
ADMIN = FrontRoute(kind="admin", listen=9070, backend="unix:/x/admin.sock")


def scope(path: str, method: str = "POST", **headers: str) -> dict:
    headers = {"host": "127.0.0.1:8080", **headers}
    return {"path": path, "method": method, "headers": [(k.encode(), v.encode()) for k, v in headers.items()]}


def refused(s: dict, route: FrontRoute = INGRESS) -> int | None:
    found = refusal(s, route, allowed_hosts(route.listen, []), public_paths())
    return found[0] if found else None


@pytest.mark.parametrize(
    "path",
    [
        "/CallChainingService/run",
        "/CallChainingService/run/send",
        "/HumanInTheLoopService/moderate",
        "/Chat/session-1/message",
        "/Chat/session-1/history",
        "/restate/health",
    ],
)
def test_the_public_entry_points_pass(path):
    assert refused(scope(path)) is None


@pytest.mark.parametrize(
    "path",
    [
        "/restate/workflow/ApprovalReview/approval-1/output",
        "/restate/workflow/ApprovalReview/approval-1/attach",
        "/restate/invocation/inv_1/output",
        "/restate/awakeables/sign_1/resolve",
        "/restate/a/sign_1/resolve",
        "/restate/attach",
        "/restate/output",
        "/restate/lookup",
        "/BillingAgent/run",
        "/ApprovalReview/approval-1/decide",
        "/RequestIds/chaining:r-1/claim",
        "/CallChainingService/ingest",
        "/Chat/session-1/ingest",
        "/CallChainingService/run/../ingest",
        "/",
    ],
)
def test_everything_else_on_the_ingress_is_refused(path):
    assert refused(scope(path)) == 404


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "127.0.0.1:9070", "127.0.0.2:8080", ""])
def test_an_unknown_host_is_refused(host):
    assert refused(scope("/CallChainingService/run", host=host)) == 421


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost:8080", "[::1]:8080"])
def test_loopback_names_pass(host):
    assert refused(scope("/CallChainingService/run", host=host)) is None


def test_another_origin_and_every_preflight_are_refused():
    assert refused(scope("/CallChainingService/run", origin="https://evil.example")) == 403
    assert refused(scope("/CallChainingService/run", origin="null")) == 403
    assert refused(scope("/CallChainingService/run", **{"sec-fetch-site": "cross-site"})) == 403
    assert refused(scope("/CallChainingService/run", "OPTIONS", origin="https://evil.example")) == 403
    assert refused(scope("/CallChainingService/run", "OPTIONS")) == 403
    assert refused(scope("/CallChainingService/run", origin="http://127.0.0.1:8080")) is None  # its own page


def test_the_admin_api_passes_whole_to_loopback_only():
    admin = {"host": "127.0.0.1:9070"}
    assert refused(scope("/deployments", "DELETE", **admin), ADMIN) is None
    assert refused(scope("/query", **admin), ADMIN) is None
    assert refused(scope("/query", host="rebound.example:9070"), ADMIN) == 421
    assert refused(scope("/query", origin="https://evil.example", **admin), ADMIN) == 403


def test_a_listed_extra_host_passes():
    found = refusal(
        scope("/CallChainingService/run", host="front:8080"),
        INGRESS,
        allowed_hosts(8080, ["front:8080"]),
        public_paths(),
    )
    assert found is None


def test_a_deep_socket_path_is_reached_relative_to_the_working_folder(tmp_path, monkeypatch):
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "ingress.sock"
    deep.parent.mkdir(parents=True)
    monkeypatch.chdir(deep.parent.parent)
    assert reachable_socket(deep) == f"{'e' * 60}/ingress.sock"
    short = tmp_path / "s.sock"
    assert reachable_socket(short) == str(short.resolve())
