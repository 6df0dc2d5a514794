"""Connections spread over `mlregistry serve`'s workers: the shared table of open connections (with other
processes as the other workers), then a live server with two workers, counted from /proc."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from mlregistry import balancing
from mlregistry.balancing import ConnectionBoard
from tests.live import ServeProcess

OTHER_WORKER = textwrap.dedent(
    """
    import sys
    from mlregistry.balancing import ConnectionBoard
    board = ConnectionBoard(sys.argv[1], int(sys.argv[2]))
    print(board.claim(), flush=True)
    for _ in range(int(sys.argv[3])):
        board.opened()
    print("ready", flush=True)
    sys.stdin.readline()
    """
)


class OtherWorker:
    """Another process holding a slot with `open_connections` counted, until `stop`."""

    def __init__(self, path: Path, slots: int, open_connections: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", OTHER_WORKER, str(path), str(slots), str(open_connections)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.slot = int(self.process.stdout.readline())
        assert self.process.stdout.readline().strip() == "ready"

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


def test_a_worker_is_busier_only_than_a_live_worker_with_fewer_connections(tmp_path: Path) -> None:
    path = tmp_path / "board"
    board = ConnectionBoard.create(path, 4)
    assert board.claim() == 0
    assert not board.busier_than_others()  # alone
    other = OtherWorker(path, 4, open_connections=2)
    assert other.slot == 1
    try:
        board.opened()
        board.opened()
        assert not board.busier_than_others()  # 2 against 2
        board.opened()
        assert board.busier_than_others()  # 3 against 2
        board.closed()
        assert not board.busier_than_others()
        board.opened()
    finally:
        other.stop()
    # The other process is gone: its slot no longer counts, and the next worker takes it over.
    assert board.busier_than_others() is False
    successor = OtherWorker(path, 4, open_connections=0)
    try:
        assert successor.slot == 1
        assert board.busier_than_others()  # 3 against 0
    finally:
        successor.stop()
    assert board.live_workers() == {0: 3}
    board.release()
    assert ConnectionBoard(path, 4).claim() == 0


def test_a_worker_without_its_table_serves_unbalanced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A table that cannot be opened (removed from the temporary directory, say) never stops a worker."""
    monkeypatch.setattr(balancing, "_BOARD", None)
    monkeypatch.setenv(balancing.BOARD_ENV, f"{tmp_path / 'gone'}:4")
    loop = balancing.new_event_loop()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))

    async def serve() -> None:
        server = await loop.create_server(asyncio.Protocol, sock=listener, backlog=8)
        try:
            assert not isinstance(server, balancing.BalancedServer)
            assert server.is_serving()
            with socket.create_connection(listener.getsockname(), timeout=5):
                pass
        finally:
            server.close()

    try:
        loop.run_until_complete(serve())
    finally:
        loop.close()


def worker_connections(server: ServeProcess) -> Counter[int]:
    """Established connections to the server's port, by the worker process holding them (from /proc)."""
    assert server.process is not None
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == server.port and fields[3] == "01":  # ESTABLISHED
                inodes.add(fields[9])
    held: Counter[int] = Counter()
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
    for pid in map(int, children):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = fd.readlink()
            except OSError:
                continue
            if str(target).startswith("socket:[") and str(target)[8:-1] in inodes:
                held[pid] += 1
    return held


def open_connections(port: int, count: int) -> list[socket.socket]:
    """`count` connections opened at once, then one request answered on each (they stay open)."""
    connections = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]
    for connection in connections:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    for connection in connections:
        assert connection.recv(65536).startswith(b"HTTP/1.1 200 OK")
    return connections


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="counts connections from Linux's /proc")
def test_two_workers_share_keep_alive_connections_evenly(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    env = {
        "MLREGISTRY_DATA_DIR": str(tmp_path / "data"),
        "MLREGISTRY_SECRET_KEY": "balancing-secret-0123456789abc",
        "TMPDIR": str(tmp_path / "tmp"),  # where serve keeps the workers' table
    }
    with ServeProcess(env, tmp_path / "serve.log", ("--workers", "2")) as server:
        # The first worker answers before the second has started: wait until both accept (each has taken its
        # slot in the table), as until then the first one takes every connection.
        (board_path,) = (tmp_path / "tmp").glob("mlregistry-connections-*")
        for _ in range(600):
            if len(ConnectionBoard(board_path, 4).live_workers()) == 2:
                break
            time.sleep(0.05)
        for _ in range(3):  # counts go down as connections close: every round starts even again
            connections = open_connections(server.port, 16)
            try:
                held = worker_connections(server)
                assert sum(held.values()) == 16 and len(held) == 2, held
                assert max(held.values()) - min(held.values()) <= 2, held
            finally:
                for connection in connections:
                    connection.close()
            # Both workers have seen every close before the next round.
            for _ in range(100):
                if not worker_connections(server):
                    break
                time.sleep(0.05)


def test_serve_without_a_writable_temporary_directory_runs_its_workers_unbalanced(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def read_only(*args: object, **kwargs: object) -> tuple[int, str]:
        raise OSError(30, "Read-only file system")

    monkeypatch.delenv(balancing.BOARD_ENV, raising=False)
    monkeypatch.setattr(balancing.tempfile, "mkstemp", read_only)
    with caplog.at_level("WARNING", logger="mlregistry"), balancing.connection_table(2):
        assert balancing.BOARD_ENV not in os.environ
    assert "not balanced" in caplog.text


def test_a_waiting_connection_is_seen_without_being_taken() -> None:
    """What a worker that left a connection to the others looks at before it looks again."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        assert not balancing._pending(listener)
        with socket.create_connection(listener.getsockname(), timeout=5):
            for _ in range(100):
                if balancing._pending(listener):
                    break
                time.sleep(0.01)
            assert balancing._pending(listener), "still waiting: looking did not take it"
            connection, _ = listener.accept()
            connection.close()
            assert not balancing._pending(listener)
