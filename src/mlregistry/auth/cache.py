"""Per-process caches of what nearly every request reads and almost nothing writes, cleared in every process
at once when it changes: the callers that bearer tokens stand for, and the webhooks each ML repo has.

A request's token is otherwise resolved by one database round trip (token, user and teams, or a virtual
account and its token) before the request's own work: for a read by id, half of its round trips. The
cache keeps the resolved `Caller` by the token's SHA-256 for at most `MLREGISTRY_TOKEN_CACHE_SECONDS`, and
never past the token's or the account's expiry.

The webhook cache (repositories/webhooks.py) keeps, per ML repo, the active webhooks that could want its
events, so that a write with no webhook to notify (nearly all) sends no statement for them; its entries live
at most `MLREGISTRY_WEBHOOK_CACHE_SECONDS`. The repo cache (repositories/ml_repos.py) keeps an ML repo by name
with the caller's collaborator rank on it, for writes that name their repo (a version apply), for at most
`MLREGISTRY_REPO_CACHE_SECONDS`.

Invalidation: every statement that writes one of the tracked tables (users, tokens, teams, team members,
virtual accounts and their tokens, webhooks, ML repos and their collaborators) marks its transaction; when
such a transaction commits, this process's caches are cleared and the other processes are told:
- on PostgreSQL by `pg_notify('mlregistry_identity', '')` in that same transaction (delivered on commit
  only); each server process listens on its own connection and, while that connection is down, does not
  use its cache at all (it resolves every token from the database until it listens again, and clears the
  cache then, since it may have missed a signal);
- on SQLite (one machine) by replacing a stamp file beside the database after the commit; each lookup
  compares the file's identity (one `stat`), so the next request of any process sees the change.
A lookup that raced a change cannot store what it read before it: entries are stored only when no clear
happened since the lookup began. The time bound holds in any case (a crash between a SQLite commit and its
stamp, a listener that died silently).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from mlregistry.auth.subject import Caller
from mlregistry.metrics import TOKEN_CACHE_LOOKUPS

logger = logging.getLogger(__name__)

CHANNEL = "mlregistry_identity"
IDENTITY_TABLES = ("users", "tokens", "teams", "team_members", "virtual_accounts", "virtual_account_tokens")
# ml_repos too: deleting a repo deletes its webhooks by cascade, with no statement naming them; ml_repos and
# their collaborators are what the repo cache keeps (repositories/ml_repos.py).
TRACKED_TABLES = (*IDENTITY_TABLES, "webhooks", "ml_repos", "ml_repo_collaborators")
_TRACKED_WRITE = re.compile(
    r"\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(?:" + "|".join(TRACKED_TABLES) + r")\"?[\s(]",
    re.IGNORECASE,
)
_WRITTEN = "mlregistry_identity_written"
CAPACITY = 10_000
# How often a listening connection is checked when no notification came (a silently dropped connection).
LISTENER_CHECK_SECONDS = 5.0

_caches: weakref.WeakSet[SignalledCache[Any, Any]] = weakref.WeakSet()
K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class _Entry(Generic[V]):
    value: V
    deadline: float  # time.monotonic()


class SignalledCache(Generic[K, V]):
    """Values by key, LRU-bounded, cleared on every commit that writes a tracked table. `listening` is False
    while the process could miss a change (its PostgreSQL listener is down), and lookups then bypass it."""

    def __init__(self, seconds: float, metric: Any, *, stamp: Path | None = None, listening: bool = True) -> None:
        self.seconds = seconds
        self._metric = metric
        self._entries: OrderedDict[K, _Entry[V]] = OrderedDict()
        self._stamp = stamp
        self._stamp_seen: tuple[int, int] | None = _stamp_identity(stamp) if stamp else None
        self.generation = 0
        self.listening = listening
        _caches.add(self)

    @property
    def enabled(self) -> bool:
        return self.seconds > 0

    def clear(self) -> None:
        self._entries.clear()
        self.generation += 1

    def lookup(self, key: K) -> V | None:
        if not self.listening:
            self._metric.labels("bypass").inc()
            return None
        if self._stamp is not None:
            seen = _stamp_identity(self._stamp)
            if seen != self._stamp_seen:
                self._stamp_seen = seen
                self.clear()
        entry = self._entries.get(key)
        if entry is None or entry.deadline <= time.monotonic():
            if entry is not None:
                del self._entries[key]
            self._metric.labels("miss").inc()
            return None
        self._entries.move_to_end(key)
        self._metric.labels("hit").inc()
        return entry.value

    def store(self, key: K, value: V, expires: datetime | None, generation: int) -> None:
        """Keep `value` unless the cache was cleared since `generation` was read (what was read may predate
        the change) or the process is not listening."""
        if generation != self.generation or not self.listening:
            return
        deadline = time.monotonic() + self.seconds
        if expires is not None:
            deadline = min(deadline, time.monotonic() + (expires - datetime.now(UTC)).total_seconds())
        self._entries[key] = _Entry(value=value, deadline=deadline)
        self._entries.move_to_end(key)
        while len(self._entries) > CAPACITY:
            self._entries.popitem(last=False)


class CallerCache(SignalledCache[str, Caller]):
    """Resolved callers by the SHA-256 of their bearer token."""

    def __init__(self, seconds: float, *, stamp: Path | None = None, listening: bool = True) -> None:
        super().__init__(seconds, TOKEN_CACHE_LOOKUPS, stamp=stamp, listening=listening)


def _stamp_identity(stamp: Path) -> tuple[int, int] | None:
    try:
        found = stamp.stat()
    except FileNotFoundError:
        return None
    return found.st_ino, found.st_mtime_ns


def stamp_path(database_path: str | None) -> Path | None:
    """The SQLite database's identity stamp (None for an in-memory database: one process only)."""
    if not database_path or database_path == ":memory:" or database_path.startswith("file::memory:"):
        return None
    return Path(f"{database_path}-identity-stamp")


def _identity_changed(stamp: Path | None) -> None:
    for cache in list(_caches):
        cache.clear()
    if stamp is not None:
        written = stamp.with_name(f"{stamp.name}.{uuid.uuid4().hex}")
        try:
            written.write_text(uuid.uuid4().hex)
            os.replace(written, stamp)  # a new inode: every process's next lookup sees a different identity
        except OSError:
            logger.exception("could not replace the identity stamp %s", stamp)
            with contextlib.suppress(OSError):
                written.unlink()


def track_identity_writes(sync_engine: Any, session_class: type[Session], *, stamp: Path | None) -> None:
    """Mark transactions that write tracked tables; on commit, clear this process's caches and signal the
    others (`pg_notify` in the transaction on PostgreSQL, the stamp file after it on SQLite)."""
    postgres = sync_engine.dialect.name == "postgresql"

    @event.listens_for(sync_engine, "before_cursor_execute")
    def _mark(conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        if _TRACKED_WRITE.match(statement):
            conn.info[_WRITTEN] = True

    @event.listens_for(sync_engine, "rollback")
    def _unmark(conn: Connection) -> None:
        if not conn.invalidated:  # a connection the database cut has no info to reach (and nothing committed)
            conn.info.pop(_WRITTEN, None)

    @event.listens_for(session_class, "before_commit")
    def _signal(session: Session) -> None:
        if not session.in_transaction():
            return
        session.flush()  # the commit's own flush comes after this hook: its statements must be seen here
        connection = session.connection()
        if not connection.info.pop(_WRITTEN, False):
            return
        session.info[_WRITTEN] = True
        if postgres:
            connection.exec_driver_sql(f"SELECT pg_notify('{CHANNEL}', '')")

    @event.listens_for(session_class, "after_commit")
    def _changed(session: Session) -> None:
        if session.info.pop(_WRITTEN, False):
            _identity_changed(stamp)

    @event.listens_for(session_class, "after_rollback")
    def _dropped(session: Session) -> None:
        session.info.pop(_WRITTEN, None)


async def listen_forever(caches: Sequence[SignalledCache[Any, Any]], dsn: str) -> None:
    """Keep one connection listening on the change channel; the caches are usable only while it does."""
    import asyncpg  # only with PostgreSQL

    delay = 0.5
    while True:
        connection = None
        try:
            connection = await asyncpg.connect(dsn, timeout=10)
            lost = asyncio.Event()

            def _terminated(_connection: Any, lost: asyncio.Event = lost) -> None:
                _suspend(caches)
                lost.set()

            def _changed(*_: Any) -> None:
                for cache in caches:
                    cache.clear()

            connection.add_termination_listener(_terminated)
            await connection.add_listener(CHANNEL, _changed)
            for cache in caches:
                cache.clear()  # whatever was kept while not listening may be stale
                cache.listening = True
            delay = 0.5
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), timeout=LISTENER_CHECK_SECONDS)
                if not lost.is_set():
                    await connection.fetchval("SELECT 1", timeout=LISTENER_CHECK_SECONDS)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - any failure: stop using the cache, reconnect
            logger.warning("change listener lost (%s); caches off until it reconnects", type(error).__name__)
        finally:
            _suspend(caches)
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.close(timeout=1)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0)


def _suspend(caches: Sequence[SignalledCache[Any, Any]]) -> None:
    for cache in caches:
        cache.listening = False
        cache.clear()
