"""A call waiting on a node that went silent without closing anything (paused: its kernel still
acknowledges) ends when the node is found silent, not after the I/O timeout, and is not sent
again on a new connection to the same node."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from hoard.storage.remote import PREFIX, NodeConnections, RemoteDrive


class SilentNode:
    """Accepts connections and reads requests, never answers: what a SIGSTOPped node looks like
    from the network (there, the kernel accepts and acknowledges alike)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self._held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            self._held.append(conn)  # never read from, never answered, never closed

    def close(self) -> None:
        self.listener.close()
        for conn in self._held:
            conn.close()


def unsigned(method: str, path: str, query: str, length: int | None) -> dict[str, str]:
    return {}


@pytest.fixture
def silent():
    node = SilentNode()
    yield node
    node.close()


def test_interrupt_ends_a_call_waiting_on_a_silent_node_at_once(silent):
    connections = NodeConnections(f"http://127.0.0.1:{silent.port}", connect_timeout=2.0, io_timeout=30.0)
    drive = RemoteDrive(0, "paused", "d1", connections, unsigned)
    outcome: list[BaseException | bytes] = []

    def call() -> None:
        try:
            outcome.append(drive.request("GET", PREFIX + "d1", ""))
        except BaseException as e:
            outcome.append(e)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 5
    while silent.accepted == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # the request is sent and the caller waits on the answer
    assert caller.is_alive()
    began = time.monotonic()
    drive.fail_one("node paused has not beaten its heart recently")  # what ClusterStorage.apply does first
    connections.interrupt()
    caller.join(timeout=5)
    assert not caller.is_alive() and time.monotonic() - began < 2.0
    assert len(outcome) == 1 and isinstance(outcome[0], OSError), outcome
    assert silent.accepted == 1  # not sent again on a new connection to the same silent node
    assert not drive.usable

