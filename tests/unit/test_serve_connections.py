"""The deployments' HTTP/2 server keeps a connection however many invocations it has carried.

restate-server runs every invocation as one stream of a long-lived HTTP/2 connection. hypercorn
by default ends a connection after 1,000 requests, which broke every invocation in flight on it
(the benchmark saw hundreds retried every few seconds). Here a real hypercorn, configured as
handlers/serve.py configures it, answers 1,100 streams on one connection from an h2 client; with
hypercorn's defaults the same client is sent away before the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator

import h2.config
import h2.connection
import h2.events
import hypercorn.asyncio
import pytest
from hypercorn.config import Config

from handlers.serve import server_config
from tests.ports import free_port

STREAMS = 1100


async def ok_app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@contextlib.contextmanager
def running(config: Config) -> Iterator[None]:
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(
        target=loop.run_until_complete,
        args=(hypercorn.asyncio.serve(ok_app, config, shutdown_trigger=stop.wait),),  # type: ignore[arg-type]
        daemon=True,
    )
    thread.start()
    try:
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def answered_on_one_connection(port: int, count: int) -> int:
    """Streams answered 200 one after another on one connection, until the server ends it."""
    for _ in range(50):  # the server thread may still be binding
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            break
        except ConnectionRefusedError:
            threading.Event().wait(0.1)
    else:
        raise AssertionError(f"nothing listens on {port}")
    with sock:
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        answered = 0
        for _ in range(count):
            stream = conn.get_next_available_stream_id()
            headers = [(":method", "POST"), (":path", "/invoke"), (":scheme", "http"), (":authority", "agent")]
            conn.send_headers(stream, headers, end_stream=True)
            sock.sendall(conn.data_to_send())
            status = None
            ended = False
            while not ended:
                data = sock.recv(65536)
                if not data:
                    return answered
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.ConnectionTerminated):
                        return answered
                    if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream:
                        status = dict(event.headers)[b":status"]
                    if isinstance(event, h2.events.StreamEnded) and event.stream_id == stream:
                        ended = True
                sock.sendall(conn.data_to_send())
            assert status == b"200", status
            answered += 1
        return answered


def test_a_connection_outlives_any_number_of_invocations() -> None:
    port = free_port()
    with running(server_config("127.0.0.1", port)):
        assert answered_on_one_connection(port, STREAMS) == STREAMS


@pytest.mark.parametrize("limit", [Config().keep_alive_max_requests])
def test_hypercorn_defaults_end_the_connection(limit: int) -> None:
    """The control: what the setting prevents still happens without it."""
    assert limit < STREAMS
    config = server_config("127.0.0.1", free_port())
    config.keep_alive_max_requests = limit
    with running(config):
        assert answered_on_one_connection(int(config.bind[0].rsplit(":", 1)[1]), STREAMS) < STREAMS
