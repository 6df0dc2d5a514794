"""The HTTP protocol `mlregistry serve` runs: uvicorn's httptools protocol, each answer's head sent with its body.

uvicorn writes a response's status line and headers when the application starts the response, and the body
in a second write: two system calls and two TCP segments (the client woken twice) for an answer that fits in
one. Here the connection's transport keeps a response head back until the next write, which it joins, or
until the event loop's next turn, whichever comes first. The body of a plain response is sent in the same
turn as its head (Starlette sends both without waiting between them), so most answers leave in one write; a
streamed response whose first chunk takes longer still gets its head at once. Nothing is reordered: what is
held is always written before anything after it. An interim `100 Continue` is never held.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# A response head as uvicorn writes it: the status line first. Heads are a few hundred bytes.
_HEAD_PREFIX = b"HTTP/1.1 "
_INTERIM_PREFIX = b"HTTP/1.1 1"
_HEAD_LIMIT = 16 * 1024


class HeadJoiningTransport:
    """A transport that sends a response head together with the write that follows it (see the module)."""

    __slots__ = ("_transport", "_loop", "_head")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head + data)
        elif (
            isinstance(data, bytes)
            and len(data) <= _HEAD_LIMIT
            and data.startswith(_HEAD_PREFIX)
            and not data.startswith(_INTERIM_PREFIX)
        ):
            self._head = data
            self._loop.call_soon(self._flush)
        else:
            self._transport.write(data)

    def writelines(self, chunks: Any) -> None:
        self.write(b"".join(chunks))

    def _flush(self) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    # Called for every request or body chunk: direct, without the lookup of `__getattr__`.
    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def __getattr__(self, name: str) -> Any:
        # Everything else (get_extra_info, abort, set_protocol, buffer limits) is the connection's own transport.
        return getattr(self._transport, name)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a `HeadJoiningTransport`."""

    # Set by the server that accepted the connection to hear of its end (balancing.BalancedServer).
    on_connection_lost: Callable[[], None] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        joined: Any = HeadJoiningTransport(transport, self.loop)
        super().connection_made(joined)

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            super().connection_lost(exc)
        finally:
            notify, self.on_connection_lost = self.on_connection_lost, None
            if notify is not None:
                notify()
