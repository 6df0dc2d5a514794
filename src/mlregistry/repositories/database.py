"""Engine and session factories for SQLite (embedded) and Postgres (asyncpg)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event, exc
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from mlregistry.auth import cache
from mlregistry.encoded import EncodedItems
from mlregistry.repositories.ml_repos import RepoCache
from mlregistry.repositories.webhooks import WebhookCache
from mlregistry.settings import Settings

WRITE_OPTION = "mlregistry_write"
logger = logging.getLogger(__name__)


STATS_SEEN = "mlregistry_statistics_seen"
SQLITE_STATS_CHECK_SECONDS = 30.0


# Nineteen digits in a row may be an integer beyond 64 bits, which orjson would read as a float. The check
# maps every digit to "0" and every other byte to a space, then looks for nineteen zeros: a few hundred
# nanoseconds for a manifest, where a regular expression takes microseconds.
_DIGITS_ONLY = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_NUMBER = b"0" * 19


def load_document(text: str) -> Any:
    """A stored JSON document, decoded by orjson (several times cheaper than the standard library on a
    list page's manifests) wherever the two agree; documents orjson would read differently (integers
    beyond 64 bits, NaN and infinities, lone surrogates) are decoded by the standard library."""
    if _LONG_NUMBER not in text.encode("utf-8", "surrogatepass").translate(_DIGITS_ONLY):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        # Let SQLAlchemy, not the driver, issue BEGIN, so that writers can BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Without table statistics SQLite's planner guesses, and at 100k versions it picks the wide repo
        # index over a selective one (e.g. run_id). A new pooled connection refreshes them, sampling at
        # most 1000 rows per index so that this stays a few milliseconds at any size.
        cursor.execute("PRAGMA analysis_limit=1000")
        cursor.execute("ANALYZE")
        cursor.close()
        record.info[STATS_SEEN] = (time.monotonic(), _statistics(dbapi_connection))

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        # A connection reads the statistics once, when it loads the schema: an ANALYZE on another connection
        # (an import, another process) is not seen until it re-reads them. Every so often a pooled connection
        # compares the statistics tables with what it read (a read of a few dozen rows) and, when they
        # changed, re-reads them (`ANALYZE sqlite_schema`, which samples nothing).
        checked_at, seen = record.info.get(STATS_SEEN, (0.0, None))
        if time.monotonic() - checked_at < SQLITE_STATS_CHECK_SECONDS:
            return
        now = _statistics(dbapi_connection)
        if now != seen:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("ANALYZE sqlite_schema")
            except Exception as error:  # the database stayed locked: the statistics wait for the next check
                logger.warning("re-reading SQLite statistics failed: %s", error)
                now = seen
            finally:
                cursor.close()
        record.info[STATS_SEEN] = (time.monotonic(), now)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A write transaction takes the write lock up front: a deferred one that upgrades later can
        # fail with SQLITE_BUSY at once instead of waiting for the other writer.
        if connection.get_execution_options().get(WRITE_OPTION):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def _statistics(dbapi_connection: Any) -> str:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT group_concat(tbl || ' ' || coalesce(idx, '') || ' ' || stat, ';') FROM sqlite_stat1")
        row = cursor.fetchone()
    except Exception:  # no statistics table yet (a database that was never analyzed)
        return ""
    finally:
        cursor.close()
    return str(row[0] or "") if row else ""


@dataclass
class Database:
    engine: AsyncEngine
    readers: async_sessionmaker[AsyncSession]
    writers: async_sessionmaker[AsyncSession]
    # SQLite has one writer at a time: queue this process's writers here instead of letting each
    # connection poll the database lock (SQLite's busy handler sleeps with growing back-off).
    serialize_writes: bool = False
    # SQLite: the file replaced when identity rows change (auth.cache); None on PostgreSQL or in memory.
    identity_stamp: Path | None = None
    # Active webhooks by ML repo (repositories/webhooks.py); cleared with the token cache.
    webhook_cache: WebhookCache | None = None
    # ML repos by name with the caller's rank (repositories/ml_repos.py); cleared with the token cache.
    repo_cache: RepoCache | None = None
    # Encoded version list items by their stored content (encoded.py): nothing to clear, a change is a new key.
    encoded_items: EncodedItems | None = None
    _write_lock: asyncio.Lock | None = field(default=None, init=False)
    _write_lock_owner: asyncio.Task[object] | None = field(default=None, init=False)

    @asynccontextmanager
    async def session(self, *, write: bool) -> AsyncIterator[AsyncSession]:
        if write and self.serialize_writes:
            async with self._queued_writer():
                async with _closing(self.writers()) as session:
                    yield session
            return
        factory = self.writers if write else self.readers
        async with _closing(factory()) as session:
            yield session

    @asynccontextmanager
    async def _queued_writer(self) -> AsyncIterator[None]:
        """This process's writers take turns; a task that already has its turn may open another writer."""
        task = asyncio.current_task()
        if self._write_lock_owner is not None and self._write_lock_owner is task:
            yield
            return
        if self._write_lock is None:
            self._write_lock = asyncio.Lock()
        async with self._write_lock:
            self._write_lock_owner = task
            try:
                yield
            finally:
                self._write_lock_owner = None

    def listen_dsn(self) -> str:
        """The PostgreSQL database as a libpq URL, for a connection of asyncpg's own (LISTEN)."""
        return self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def dispose(self) -> None:
        await self.engine.dispose()


@asynccontextmanager
async def _closing(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """The session, closed afterwards even when its connection died under it.

    Closing rolls back what is still open; on a connection the database cut (a restart, a killed
    backend) that rollback fails. Nothing is lost by going on: the database has dropped the open
    transaction with the connection, and the pool has invalidated it. Letting that error escape
    would replace the request's own answer (or its exception, mapped to a 503) with a connection
    closed without any answer.
    """
    try:
        yield session
    finally:
        try:
            await session.close()
        except exc.DBAPIError as error:
            logger.warning("closing a session on a lost connection: %s", type(error.orig).__name__)


def _ping_idle_connections(engine: AsyncEngine, idle_seconds: float) -> None:
    """Check a pooled connection before use only when it sat idle for a while.

    A connection returned moments ago is almost certainly alive, and pinging it on every checkout
    costs a round trip per request. One that sat idle may have been cut by a database restart or
    failover: it is pinged, and a dead one is replaced before the request sees it (the pool retries
    the checkout on DisconnectionError).
    """
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["mlregistry_idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop("mlregistry_idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return  # new connection (it just connected) or returned moments ago
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise exc.DisconnectionError("pooled connection failed its ping") from error
        if not alive:
            raise exc.DisconnectionError("pooled connection failed its ping")


def create_database(settings: Settings) -> Database:
    url = settings.effective_database_url
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs.update(
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout,
            # A database restart or failover must not surface as errors: a connection idle for longer than
            # db_pool_ping_idle_seconds is pinged on checkout (every checkout when it is 0).
            pool_pre_ping=settings.db_pool_ping_idle_seconds == 0,
            pool_recycle=1800,
            connect_args={
                "server_settings": {
                    # PostgreSQL's default: a prepared statement keeps a generic plan once it costs no
                    # more than the plans made for each execution's parameters. Re-planning every
                    # execution (force_custom_plan) was most of a list's database CPU. The lists' generic
                    # plans are the same index walks, and a growing table's ANALYZE (autovacuum) drops the
                    # cached plans, so they are chosen again for the table's new size.
                    "plan_cache_mode": "auto",
                    # JIT compilation costs more than it saves on these short indexed queries.
                    "jit": "off",
                }
            },
        )
    # Bound parameters stay out of error messages (and so out of logs): they can carry secrets.
    engine = create_async_engine(url, hide_parameters=True, json_deserializer=load_document, **kwargs)
    if url.startswith("sqlite"):
        _configure_sqlite(engine)
    elif settings.db_pool_ping_idle_seconds > 0:
        _ping_idle_connections(engine, settings.db_pool_ping_idle_seconds)
    write_engine = engine.execution_options(**{WRITE_OPTION: True})
    # PostgreSQL readers run each statement in its own implicit transaction: no BEGIN and no ROLLBACK
    # round trips around a read. What a read sees is unchanged: under READ COMMITTED (the default) every
    # statement of a transaction takes a new snapshot anyway, and a reader that needs one view for
    # several statements asks for REPEATABLE READ on its connection (the export does), which starts a
    # transaction there. SQLite readers keep their BEGIN: there it is what makes a read one snapshot.
    read_engine = engine if url.startswith("sqlite") else engine.execution_options(isolation_level="AUTOCOMMIT")
    # Its own session class, so that change tracking and the webhook cache are this database's only.
    stamp = cache.stamp_path(engine.url.database) if url.startswith("sqlite") else None
    # On PostgreSQL the webhook cache is used once this process listens for changes (the app's lifespan).
    webhook_cache = WebhookCache(settings.webhook_cache_seconds, stamp=stamp, listening=url.startswith("sqlite"))
    repo_cache = RepoCache(settings.repo_cache_seconds, stamp=stamp, listening=url.startswith("sqlite"))
    encoded_items = EncodedItems(int(settings.list_item_cache_mb * 1024 * 1024))
    session_class: type[Session] = type(
        "RegistrySession",
        (Session,),
        {"webhook_cache": webhook_cache, "repo_cache": repo_cache, "encoded_items": encoded_items},
    )
    cache.track_identity_writes(engine.sync_engine, session_class, stamp=stamp)
    return Database(
        engine=engine,
        readers=async_sessionmaker(read_engine, expire_on_commit=False, sync_session_class=session_class),
        writers=async_sessionmaker(write_engine, expire_on_commit=False, sync_session_class=session_class),
        serialize_writes=url.startswith("sqlite"),
        identity_stamp=stamp,
        webhook_cache=webhook_cache,
        repo_cache=repo_cache,
        encoded_items=encoded_items,
    )
