"""Keep-alive connections spread evenly over `mlregistry serve`'s worker processes.

The workers share one listening socket, and whichever wakes first accepts a new connection; a client's
keep-alive connection then stays with that worker for its whole life. Sixteen connections opened together
land 12/4 or 10/6 as often as 8/8, and the busier worker queues its clients' requests on one core while
the other idles: fewer requests a second overall and a longer tail for the clients of the busier worker.

Here every worker counts its open connections in a small table the workers share (a memory-mapped file,
one slot a worker: its process id and its count) and accepts on its own loop (`BalancedServer`): a worker
that holds more connections than the least busy live worker leaves a waiting connection to the others, and
takes it itself only if it is still waiting `DEFER_LIMIT` later (a worker busy with one long request never
strands a client). With one worker nothing of this runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import mmap
import os
import select
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import uvloop

logger = logging.getLogger(__name__)

BOARD_ENV = "MLREGISTRY_INTERNAL_CONNECTION_BOARD"
"""The table's file, set by `mlregistry serve` for its workers (not a setting)."""

DEFER_STEP = 0.002
"""Seconds between a busier worker's looks at a connection it left to the others."""
DEFER_LIMIT = 0.02
"""Seconds after which a busier worker takes a connection nobody else took."""
ACCEPT_RETRY_DELAY = 1.0
"""Seconds a worker stops accepting after running out of file descriptors (as asyncio's own servers do)."""

_SLOT_SIZE = 16  # two signed 64-bit cells: the process id, its open connections


class ConnectionBoard:
    """The shared table: each worker writes only its own slot, and reads the others' (a stale count only
    makes one decision less even)."""

    def __init__(self, path: str | os.PathLike[str], slots: int) -> None:
        self.path = Path(path)
        self.slots = slots
        with open(self.path, "r+b") as handle:
            self._map = mmap.mmap(handle.fileno(), slots * _SLOT_SIZE)
        # Aligned 8-byte cells: each read or write of one is whole.
        self._cells = memoryview(self._map).cast("q")
        self._mine: int | None = None
        self._open = 0

    @classmethod
    def create(cls, path: str | os.PathLike[str], slots: int) -> ConnectionBoard:
        with open(path, "wb") as handle:
            handle.truncate(slots * _SLOT_SIZE)
        return cls(path, slots)

    def _read(self, slot: int) -> tuple[int, int]:
        return self._cells[2 * slot], self._cells[2 * slot + 1]

    def claim(self) -> int:
        """Take a free slot (never used, or left by a process that is gone) for this process."""
        pid = os.getpid()
        with open(self.path, "r+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                for slot in range(self.slots):
                    owner, _ = self._read(slot)
                    if owner in (0, pid) or not _alive(owner):
                        self._cells[2 * slot], self._cells[2 * slot + 1] = pid, 0
                        self._mine, self._open = slot, 0
                        return slot
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        raise RuntimeError(f"no free slot in the connection table {self.path} ({self.slots} slots)")

    def release(self) -> None:
        if self._mine is not None:
            self._cells[2 * self._mine], self._cells[2 * self._mine + 1] = 0, 0
            self._mine = None

    def _publish(self) -> None:
        if self._mine is not None:
            self._cells[2 * self._mine + 1] = self._open

    def opened(self) -> None:
        self._open += 1
        self._publish()

    def closed(self) -> None:
        self._open -= 1
        self._publish()

    def live_workers(self) -> dict[int, int]:
        """Open connections by slot, of the slots held by live processes."""
        found = {}
        for slot in range(self.slots):
            pid, count = self._read(slot)
            if pid != 0 and _alive(pid):
                found[slot] = count
        return found

    def busier_than_others(self) -> bool:
        """Whether some other live worker holds fewer open connections than this one."""
        if self._mine is None:
            return False
        mine = self._open
        for slot in range(self.slots):
            if slot == self._mine:
                continue
            pid, count = self._read(slot)
            if pid != 0 and count < mine and _alive(pid):
                return True
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class BalancedServer:
    """Accepts on a shared listening socket for one worker, leaving connections to less busy workers (see the
    module). Offers what uvicorn uses of an `asyncio.Server`: `close`, `wait_closed`, `sockets`."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol_factory: Callable[[], asyncio.Protocol],
        sock: socket.socket,
        board: ConnectionBoard,
        backlog: int = 100,
    ) -> None:
        self._loop = loop
        self._factory = protocol_factory
        self._sock = sock
        self._board = board
        self._waiting_since: float | None = None
        self._resume_handle: asyncio.TimerHandle | None = None
        self._closed = False
        self._tasks: set[asyncio.Task[Any]] = set()
        sock.setblocking(False)
        sock.listen(backlog)
        loop.add_reader(sock.fileno(), self._accept)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return () if self._closed else (self._sock,)

    def _pause(self, delay: float) -> None:
        self._loop.remove_reader(self._sock.fileno())
        self._resume_handle = self._loop.call_later(delay, self._resume)

    def _resume(self) -> None:
        self._resume_handle = None
        if self._closed:
            return
        if self._waiting_since is not None and not _pending(self._sock):
            self._waiting_since = None  # another worker took it
        self._loop.add_reader(self._sock.fileno(), self._accept)

    def _accept(self) -> None:
        while not self._closed:
            if self._board.busier_than_others():
                now = self._loop.time()
                if self._waiting_since is None:
                    self._waiting_since = now
                if now - self._waiting_since < DEFER_LIMIT:
                    self._pause(DEFER_STEP)
                    return
            try:
                connection, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                self._waiting_since = None
                return
            except OSError as exc:
                if exc.errno == errno.ECONNABORTED:
                    continue
                # Out of file descriptors or memory, or worse: never a busy loop of failed accepts.
                logger.error("Cannot accept connections (%s); retrying in %.0f s", exc, ACCEPT_RETRY_DELAY)
                self._pause(ACCEPT_RETRY_DELAY)
                return
            self._waiting_since = None
            self._board.opened()
            task = self._loop.create_task(self._serve(connection))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, connection: socket.socket) -> None:
        board = self._board
        made = False

        def counted() -> asyncio.Protocol:
            nonlocal made
            protocol = self._factory()
            # The protocol gives the connection back to the count when it is lost (HttpProtocol).
            protocol.on_connection_lost = board.closed  # type: ignore[attr-defined]
            made = True
            return protocol

        try:
            connection.setblocking(False)
            if connection.family in (socket.AF_INET, socket.AF_INET6):
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await self._loop.connect_accepted_socket(counted, sock=connection)
        except OSError as exc:
            logger.debug("Dropped a connection while setting it up: %s", exc)
            connection.close()
            if not made:
                board.closed()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._resume_handle is not None:
            self._resume_handle.cancel()
        self._loop.remove_reader(self._sock.fileno())
        self._board.release()

    async def wait_closed(self) -> None:
        return None


def _pending(sock: socket.socket) -> bool:
    """Whether a connection waits on the listening socket, without taking it (poll: any descriptor number)."""
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(0))


@contextlib.contextmanager
def connection_table(workers: int) -> Iterator[None]:
    """For `mlregistry serve`: the table in which several workers count their open connections, named in the
    environment the workers start with (`BOARD_ENV`), for as long as they run."""
    if workers < 2:
        yield
        return
    slots = workers * 2  # room for a worker restarted beside the slot of the one it replaces
    try:
        descriptor, path = tempfile.mkstemp(prefix="mlregistry-connections-")
        os.close(descriptor)
        ConnectionBoard.create(path, slots)
    except OSError as exc:  # a read-only temporary directory, say: serve, unbalanced
        logger.warning("Connections are not balanced across workers: no table in %s (%s)", tempfile.gettempdir(), exc)
        yield
        return
    os.environ[BOARD_ENV] = f"{path}:{slots}"
    try:
        yield
    finally:
        os.environ.pop(BOARD_ENV, None)
        with contextlib.suppress(OSError):
            os.unlink(path)


_BOARD: ConnectionBoard | None = None


def _worker_board() -> ConnectionBoard | None:
    """This worker's slot in the table named by `BOARD_ENV`, claimed on first use."""
    global _BOARD
    if _BOARD is None and os.environ.get(BOARD_ENV):
        path, _, slots = os.environ[BOARD_ENV].rpartition(":")
        try:
            board = ConnectionBoard(path, int(slots))
            board.claim()
        except (OSError, ValueError, RuntimeError) as exc:
            # Serving matters more than spreading: this worker accepts as uvloop does.
            logger.warning("Connections are not balanced across workers in this process: %s", exc)
            return None
        _BOARD = board
    return _BOARD


class BalancedLoop(uvloop.Loop):  # type: ignore[misc]
    """uvloop, whose servers on a worker's shared listening socket accept through `BalancedServer`."""

    async def create_server(  # type: ignore[override]
        self,
        protocol_factory: Callable[[], asyncio.Protocol],
        *args: Any,
        sock: socket.socket | None = None,
        **kwargs: Any,
    ) -> Any:
        board = _worker_board() if sock is not None and not args and kwargs.get("ssl") is None else None
        if board is None:
            return await super().create_server(protocol_factory, *args, sock=sock, **kwargs)
        assert sock is not None
        return BalancedServer(self, protocol_factory, sock, board, kwargs.get("backlog") or 100)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The event loop of `mlregistry serve`'s processes (uvicorn's `loop` option)."""
    return BalancedLoop()
