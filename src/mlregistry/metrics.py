"""Prometheus metrics of one process, served at `/metrics`.

Other modules count what they do with the counters defined here, e.g.::

    from mlregistry import metrics

    metrics.SIGNED_URLS_ISSUED.labels(store="s3", operation="write").inc()
    metrics.LOCAL_STORE_BYTES.labels(direction="download").inc(len(chunk))

Request counts and latencies are recorded by the request middleware; database pool usage is read
from the app's engine at scrape time. Define a new metric here, with `registry=REGISTRY`.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED_ROUTE = "unmatched"

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

_REQUEST_LABELS = ("method", "route", "status")
HTTP_REQUESTS = Counter(
    "mlregistry_http_requests",
    "HTTP requests answered, by method, route template and status.",
    _REQUEST_LABELS,
    registry=REGISTRY,
)
HTTP_REQUEST_DURATION = Histogram(
    "mlregistry_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by method, route template and status.",
    _REQUEST_LABELS,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
    registry=REGISTRY,
)
SIGNED_URLS_ISSUED = Counter(
    "mlregistry_signed_urls_issued",
    "Signed URLs handed out, by store (local, s3) and operation (read, write).",
    ("store", "operation"),
    registry=REGISTRY,
)
LOCAL_STORE_BYTES = Counter(
    "mlregistry_local_store_bytes",
    "Bytes the local store streamed through this process, by direction (upload, download).",
    ("direction",),
    registry=REGISTRY,
)

TOKEN_CACHE_LOOKUPS = Counter(
    "mlregistry_token_cache_lookups",
    "Bearer tokens looked up in this process's cache of resolved callers, by result: hit, miss, or bypass "
    "(the process is not listening for identity changes, so it resolves every token from the database).",
    ("result",),
    registry=REGISTRY,
)

REPO_CACHE_LOOKUPS = Counter(
    "mlregistry_repo_cache_lookups",
    "ML repos named by a write (with the caller's collaborator role) looked up in this process's cache, by "
    "result: hit, miss, or bypass (the process is not listening for changes, so it reads them from the database).",
    ("result",),
    registry=REGISTRY,
)

LIST_ITEM_CACHE_LOOKUPS = Counter(
    "mlregistry_list_item_cache_lookups",
    "Version list items looked up in this process's cache of encoded items, by result: hit, miss, or bypass "
    "(the item is made every time: the cache is off, or the item shows its run's metrics or an earlier time).",
    ("result",),
    registry=REGISTRY,
)

WEBHOOK_CACHE_LOOKUPS = Counter(
    "mlregistry_webhook_cache_lookups",
    "ML repos' active webhooks looked up in this process's cache before an event is queued, by result: hit, "
    "miss, or bypass (the process is not listening for changes, so it reads them from the database).",
    ("result",),
    registry=REGISTRY,
)
DATABASE_UNAVAILABLE = Counter(
    "mlregistry_database_unavailable_responses",
    "Requests answered 503 because the database could not serve them, by reason: connection (lost or "
    "refused) or pool_timeout (no free pooled connection within MLREGISTRY_DB_POOL_TIMEOUT).",
    ("reason",),
    registry=REGISTRY,
)
DATABASE_UNAVAILABLE_REASONS = ("connection", "pool_timeout")

# Known label values start at 0, so a dashboard sees the series before the first event.
for _store in ("local", "s3"):
    for _operation in ("read", "write"):
        SIGNED_URLS_ISSUED.labels(store=_store, operation=_operation)
for _direction in ("upload", "download"):
    LOCAL_STORE_BYTES.labels(direction=_direction)
for _reason in DATABASE_UNAVAILABLE_REASONS:
    DATABASE_UNAVAILABLE.labels(reason=_reason)
for _result in ("hit", "miss", "bypass"):
    LIST_ITEM_CACHE_LOOKUPS.labels(result=_result)

_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetrics:
    """Records one finished request. Label children are cached: the hot path is two dict lookups."""

    def __init__(self) -> None:
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            labels = {"method": method if method in _KNOWN_METHODS else "OTHER", "route": route, "status": str(status)}
            children = (HTTP_REQUESTS.labels(**labels), HTTP_REQUEST_DURATION.labels(**labels))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


class DatabasePoolCollector(Collector):
    """Connection pool usage of one engine, read when Prometheus scrapes."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    def collect(self) -> Iterable[Metric]:
        pool = self._engine.pool
        family = GaugeMetricFamily(
            "mlregistry_db_pool_connections",
            "Database connections of this process by state: in_use, idle, overflow (beyond the pool "
            "size) and size (the configured pool size).",
            labels=["state"],
        )
        for state, reader in (
            ("in_use", "checkedout"),
            ("idle", "checkedin"),
            ("overflow", "overflow"),
            ("size", "size"),
        ):
            read = getattr(pool, reader, None)
            if read is not None:
                family.add_metric([state], max(float(read()), 0.0))
        yield family


def database_registry(engine: AsyncEngine) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(DatabasePoolCollector(engine))
    return registry


def render(*registries: CollectorRegistry) -> bytes:
    return b"".join(generate_latest(registry) for registry in (REGISTRY, *registries))
