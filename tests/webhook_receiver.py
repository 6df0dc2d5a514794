"""A webhook receiver for the tests: an HTTP server on 127.0.0.1 that records every POST it gets and
answers with the statuses a test scripts (e.g. two 500s, then 200s)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.processes import readme_block


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def document(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    @property
    def event_type(self) -> str:
        return self.headers["x-mlregistry-event"]


def _readme_verify() -> Callable[[str, str, bytes], bool]:
    """The receiver's check exactly as the README documents it (so the documentation is what is tested)."""
    namespace: dict[str, Any] = {}
    exec(readme_block("tested-webhook-verify", "python"), namespace)
    verify: Callable[[str, str, bytes], bool] = namespace["verify"]
    return verify


verify_signature = _readme_verify()


@dataclass
class Receiver:
    url: str
    received: list[Received] = field(default_factory=list)
    # Per path: the statuses of the next answers, in order; once used up, 200.
    scripted: dict[str, list[int]] = field(default_factory=dict)
    # Per path: events the next answers wait for (the request is recorded first, then held).
    held: dict[str, list[threading.Event]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, path: str, count: int, status: int = 500) -> None:
        with self.lock:
            self.scripted.setdefault(path, []).extend([status] * count)

    def hold_next(self, path: str) -> threading.Event:
        """The next request to `path` is recorded and then gets no answer until the returned event is set."""
        release = threading.Event()
        with self.lock:
            self.held.setdefault(path, []).append(release)
        return release

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [item for item in self.received if item.path == path]

    def wait_for(self, path: str, predicate: Callable[[list[Received]], bool], timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while True:
            items = self.at(path)
            if predicate(items):
                return items
            if time.monotonic() > deadline:
                raise AssertionError(f"the receiver did not get what was expected at {path}: {items}")
            time.sleep(0.05)

    def wait_for_count(self, path: str, count: int, timeout: float = 30) -> list[Received]:
        return self.wait_for(path, lambda items: len(items) >= count, timeout)

    def _answer(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            self.received.append(Received(path=path, headers=headers, body=body, at=time.monotonic()))
            statuses = self.scripted.get(path)
            status = statuses.pop(0) if statuses else 200
            holds = self.held.get(path)
            release = holds.pop(0) if holds else None
        if release is not None:
            release.wait(timeout=60)
        return status


@contextmanager
def receiving() -> Iterator[Receiver]:
    receiver_box: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {key.lower(): value for key, value in self.headers.items()}
            status = receiver_box[0]._answer(self.path, headers, body)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver_box.append(Receiver(url=f"http://127.0.0.1:{server.server_address[1]}"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver_box[0]
    finally:
        server.shutdown()
        server.server_close()
