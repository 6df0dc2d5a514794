"""What leaves the server when. The served HTTP protocol's transport: a response head leaves with the write
after it, or on the loop's next turn, and never out of order; an interim 100 Continue is not held (unit, then
through a live server). The request middleware: an access line is written once the answer is handed over."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path
from typing import Any

import pytest

from mlregistry.api.middleware import RequestMiddleware
from mlregistry.http_protocol import HeadJoiningTransport
from mlregistry.logs import ACCESS_LOGGER
from mlregistry.metrics import RequestMetrics
from mlregistry.settings import Settings
from tests.live import ServeProcess

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n"


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def abort(self) -> None:
        self.aborted = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000)}.get(name, default)


def joined() -> tuple[HeadJoiningTransport, RecordingTransport]:
    inner = RecordingTransport()
    return HeadJoiningTransport(inner, asyncio.get_running_loop()), inner  # type: ignore[arg-type]


async def next_turn() -> None:
    await asyncio.sleep(0)


async def test_a_head_and_the_body_written_in_the_same_turn_leave_in_one_write() -> None:
    transport, inner = joined()
    transport.write(HEAD)
    assert inner.writes == []
    transport.write(b"{}")
    assert inner.writes == [HEAD + b"{}"]
    await next_turn()
    assert inner.writes == [HEAD + b"{}"]


async def test_a_head_whose_body_comes_later_leaves_on_the_next_turn_and_the_body_after_it() -> None:
    transport, inner = joined()
    transport.write(HEAD)
    await next_turn()
    assert inner.writes == [HEAD]
    transport.write(b"first chunk")
    transport.write(b"second chunk")
    assert inner.writes == [HEAD, b"first chunk", b"second chunk"]


async def test_an_interim_100_continue_is_written_at_once() -> None:
    transport, inner = joined()
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert inner.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]


async def test_close_sends_a_held_head_first_and_large_or_body_writes_are_not_held() -> None:
    transport, inner = joined()
    transport.write(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n")
    transport.close()
    assert inner.writes == [b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n"]
    assert inner.closed and transport.is_closing()
    await next_turn()  # the scheduled flush finds nothing left to send
    assert len(inner.writes) == 1

    transport, inner = joined()
    large = b"HTTP/1.1 " + b"x" * 20_000
    transport.write(large)
    transport.write(b"not a head")
    transport.write(memoryview(HEAD))  # not bytes: passed on as it is
    transport.write(HEAD)
    transport.write(memoryview(b"{}"))  # joined with the held head all the same
    assert inner.writes == [large, b"not a head", HEAD, HEAD + b"{}"]


async def test_everything_else_is_the_connection_transport() -> None:
    transport, inner = joined()
    assert transport.get_extra_info("peername") == ("127.0.0.1", 5000)
    transport.abort()
    assert inner.aborted


def exchange(port: int, request: bytes, *, then: bytes = b"", wait_for: bytes = b"") -> bytes:
    """Send `request` on a new connection; when `wait_for` arrives, send `then`; read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        received = b""
        if wait_for:
            while wait_for not in received:
                chunk = connection.recv(65536)
                assert chunk, f"closed before {wait_for!r}: {received!r}"
                received += chunk
            connection.sendall(then)
        while chunk := connection.recv(65536):
            received += chunk
        return received


def test_a_live_server_answers_whole_responses_interim_continues_and_a_sequence_on_one_connection(
    tmp_path: Path,
) -> None:
    env = {"MLREGISTRY_DATA_DIR": str(tmp_path / "data"), "MLREGISTRY_SECRET_KEY": "http-protocol-secret-0123456789"}
    with ServeProcess(env, tmp_path / "serve.log") as server:
        port = server.port
        # Head and body in one write: a client's first read holds the whole answer. (With the head written on
        # its own, a client already waiting reads the head alone most of the time.)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            for _ in range(20):
                connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                first_read = connection.recv(65536)
                assert first_read.startswith(b"HTTP/1.1 200 OK") and first_read.endswith(b'{"status":"ok"}')
        # Two requests on one keep-alive connection, the second closing it: both answers whole, in order.
        both = exchange(
            port,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        first, _, rest = both.partition(b"\r\n\r\n")
        assert first.startswith(b"HTTP/1.1 200 OK")
        assert rest.startswith(b'{"status":"ok"}HTTP/1.1 200 OK'), rest[:80]
        assert rest.rstrip().endswith(b"}")
        # A body sent only after the server's 100 Continue: the interim answer is not held back.
        body = b'{"manifest": {}}'
        answer = exchange(
            port,
            b"PUT /api/ml/v1/ml-repos HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
            b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body),
            then=body,
            wait_for=b"HTTP/1.1 100 Continue\r\n\r\n",
        )
        assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 401 "), answer[:120]


class Events(logging.Handler):
    """Records the access log lines into the same list as the messages sent."""

    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append(f"log {record.__dict__.get('status')}")


async def run_middleware(tmp_path: Path, send_fails: bool) -> list[str]:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 201, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"{}"})

    events: list[str] = []

    async def send(message: dict[str, Any]) -> None:
        events.append(message["type"])
        if send_fails and message["type"] == "http.response.body":
            raise OSError("the client is gone")

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    handler = Events(events)
    access = logging.getLogger(ACCESS_LOGGER)
    access.addHandler(handler)
    level, disabled = access.level, access.disabled
    access.setLevel(logging.INFO)
    access.disabled = False
    middleware = RequestMiddleware(app, Settings(data_dir=tmp_path, secret_key="m" * 40), RequestMetrics())
    scope = {"type": "http", "method": "POST", "path": "/x", "headers": [], "query_string": b""}
    try:
        if send_fails:
            with pytest.raises(OSError):
                await middleware(scope, receive, send)
        else:
            await middleware(scope, receive, send)
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
        access.disabled = disabled
    return events


async def test_the_access_line_is_written_after_the_last_byte_is_handed_over(tmp_path: Path) -> None:
    assert await run_middleware(tmp_path, send_fails=False) == ["http.response.start", "http.response.body", "log 201"]
    # A client gone while the answer is sent still leaves its one line.
    assert await run_middleware(tmp_path, send_fails=True) == ["http.response.start", "http.response.body", "log 201"]
