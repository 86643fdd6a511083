"""Free local ports for the servers and brokers the tests start."""

from __future__ import annotations

import socket


def free_ports(count: int) -> list[int]:
    """Held open together, so the kernel cannot hand out the same port twice."""
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [int(sock.getsockname()[1]) for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def free_port() -> int:
    return free_ports(1)[0]
