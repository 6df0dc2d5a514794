"""All configuration, read from ``MLREGISTRY_*`` environment variables."""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_SECRET_KEY_BYTES = 32


class Settings(BaseSettings):
    """The effective configuration of one mlregistry process."""

    model_config = SettingsConfigDict(env_prefix="MLREGISTRY_", extra="ignore")

    env: Literal["development", "production"] = Field(
        "development", description="`production` refuses to start without an explicit secret key."
    )
    data_dir: Path = Field(
        Path("./mlregistry-data"), description="Directory for the embedded SQLite database and local artifacts."
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy async URL, e.g. `postgresql+asyncpg://user@host/db`. "
        "Unset: SQLite at `$MLREGISTRY_DATA_DIR/registry.db`.",
    )
    migrations_dir: Path | None = Field(
        None,
        description="Alembic migrations folder. Unset: `migrations/` of a source checkout, else `/app/migrations` "
        "(the container image).",
    )
    db_pool_size: int = Field(10, ge=1, description="Connections kept per worker process (Postgres).")
    db_max_overflow: int = Field(10, ge=0, description="Extra connections per worker beyond the pool size.")
    db_pool_timeout: float = Field(30.0, gt=0, description="Seconds to wait for a free pooled connection.")
    db_pool_ping_idle_seconds: float = Field(
        10.0,
        ge=0,
        description="A pooled connection idle for longer than this is pinged before use, so a database "
        "restart or failover is not surfaced as an error; 0 pings on every checkout (Postgres).",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="HMAC key for issued tokens (HS256). Development without it: a key generated once "
        "and kept in `$MLREGISTRY_DATA_DIR/secret.key`. Required (>= 32 bytes) in production.",
    )
    tenant_name: str = Field(
        "mlregistry",
        pattern=r"^[a-z0-9][a-z0-9\-]*$",
        description="Tenant name: first segment of every FQN and the `tenantName` of tokens.",
    )
    bootstrap_token: SecretStr | None = Field(
        None,
        description="Token given to the `admin` user created on first start (instead of a generated one).",
    )
    bootstrap_admin_email: str = Field(
        "admin@mlregistry.local",
        description="E-mail of the `admin` user created on first start; every user's token carries one "
        "(TrueFoundry's clients take a token without an e-mail for a virtual account).",
        pattern=r"^[^@\s]+@[^@\s]+$",
    )
    token_issuer: str = Field("mlregistry", description="`iss` claim of tokens this server issues.")
    oidc_issuer: str | None = Field(
        None, description="Accept JWTs from this external OIDC issuer (`iss`), mapped to users by `email`."
    )
    oidc_audience: str | None = Field(None, description="Required `aud` of external OIDC tokens.")
    oidc_jwks: str | None = Field(
        None, description="The issuer's JWKS: a file path or an `https://` URL (RS256/ES256 keys only)."
    )
    oidc_auto_create: bool = Field(
        False, description="Create a user on the first valid OIDC token with an unknown e-mail."
    )
    oidc_client_id: str | None = Field(
        None,
        description="Web console sign-in with the OIDC issuer (authorization code + PKCE): this server's client "
        "id there. Its ID tokens must carry `aud` = MLREGISTRY_OIDC_AUDIENCE.",
    )
    oidc_client_secret: SecretStr | None = Field(
        None, description="Client secret for the console's code exchange, if the issuer requires one."
    )
    oidc_authorization_endpoint: str | None = Field(
        None, description="The issuer's authorization endpoint (needed with MLREGISTRY_OIDC_CLIENT_ID)."
    )
    oidc_token_endpoint: str | None = Field(
        None, description="The issuer's token endpoint (needed with MLREGISTRY_OIDC_CLIENT_ID)."
    )
    token_cache_seconds: float = Field(
        5.0,
        ge=0,
        le=300,
        description="How long a server process may answer a bearer token from its cache of resolved callers "
        "(0 turns the cache off). A revocation, deactivation or any change to users, teams, tokens or virtual "
        "accounts clears every process's cache when it commits (PostgreSQL NOTIFY; on SQLite a stamp file beside "
        "the database); a process that cannot listen for those changes does not use its cache. This bound holds "
        "in any case.",
    )
    webhook_cache_seconds: float = Field(
        5.0,
        ge=0,
        le=300,
        description="How long a server process may keep an ML repo's list of active webhooks, read before every "
        "event it could queue (0: read it each time). Creating, changing or deleting a webhook clears every "
        "process's list when it commits, as for the token cache; this bound holds in any case.",
    )
    repo_cache_seconds: float = Field(
        5.0,
        ge=0,
        le=300,
        description="How long a server process may keep an ML repo, and the caller's collaborator role on it, as "
        "read by a write that names the repo (a version apply; 0: read it each time). Changing an ML repo or its "
        "collaborators clears every process's cache when it commits, as for the token cache; this bound holds in "
        "any case.",
    )
    list_item_cache_mb: float = Field(
        16.0,
        ge=0,
        le=4096,
        description="Memory a server process may spend keeping version list items it has encoded, by the stored "
        "content they were made from (0: encode every item each time). A version that changes reads back as "
        "new content, so a kept item is never stale; an item is kept the second time it is listed.",
    )
    apply_replay_window_seconds: float = Field(
        60.0,
        ge=0,
        description="An apply without `Idempotency-Key` whose manifest equals the entity's newest version, sent by "
        "the caller who created that version within this many seconds, is a replay and answers that version "
        "(0 turns it off).",
    )
    idempotency_key_ttl_seconds: int = Field(
        86400, ge=1, description="How long an apply's `Idempotency-Key` answers the version it created."
    )
    max_page_size: int = Field(1000, ge=1, description="Largest `limit` a list accepts (422 above it).")
    default_page_size: int = Field(100, ge=1, description="`limit` of a list request that sends none.")
    storage_url: str | None = Field(
        None,
        description="The default artifact storage: `s3://bucket/prefix` (any S3-compatible store) or "
        "`file:///absolute/path`. Unset: local disk under `$MLREGISTRY_DATA_DIR/artifacts`.",
    )
    storages: dict[str, str] = Field(
        default_factory=dict,
        description='More named storages as JSON, e.g. `{"archive": "s3://other-bucket/ml"}`. An ML repo whose '
        "`storage_integration_fqn` is one of these names keeps its files there; any other value uses the default.",
    )
    s3_endpoint_url: str | None = Field(
        None,
        description="Endpoint of an S3-compatible store (MinIO, Ceph, ...). Credentials: the standard AWS variables.",
    )
    s3_public_endpoint_url: str | None = Field(
        None,
        description="Endpoint that clients reach the store at, for signed URLs, when it differs from the server's "
        "(e.g. `http://minio:9000` inside a compose network, `https://s3.example.com` outside). Unset: the same.",
    )
    signed_url_ttl_seconds: int = Field(3600, ge=1, le=7 * 24 * 3600, description="Lifetime of a signed URL.")
    stage_ttl_seconds: int = Field(
        24 * 3600, ge=1, description="A staged version not finalized within this time is reaped with its files."
    )
    reaper_interval_seconds: float = Field(
        60.0, ge=0, description="Seconds between reaper passes (abandoned stages, queued deletions); 0 disables it."
    )
    temporary_file_max_age_seconds: float = Field(
        3600.0,
        gt=0,
        description="The local store's temporary files (uploads being written) not written to for this long are "
        "abandoned (a killed process) and removed at start-up and by the reaper.",
    )
    trusted_fileset_sources: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Fileset sources whose model entities may set `trust_remote_code: true` (comma-separated): "
        "a workspace (`team-nlp/`) or a full fileset name (`team-nlp/llama-ckpt`). Administrators bypass the list.",
    )
    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Webhook targets allowed although they are private, loopback or link-local (comma-separated "
        "host names or networks, e.g. `127.0.0.1,10.0.0.0/8`). Every other such target is refused.",
    )
    webhook_poll_interval_seconds: float = Field(
        1.0, ge=0, description="Seconds between the webhook worker's looks at the outbox; 0 disables delivery."
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="Seconds a webhook target has to answer one delivery."
    )
    webhook_max_attempts: int = Field(
        8, ge=1, le=100, description="Attempts per delivery before it is marked `failed` (redeliver sends it again)."
    )
    webhook_retry_base_seconds: float = Field(
        10.0, gt=0, description="Wait before the first retry; each further retry waits twice as long."
    )
    webhook_retry_max_seconds: float = Field(3600.0, gt=0, description="Longest wait between two attempts.")

    @field_validator("trusted_fileset_sources", "webhook_allowed_hosts", mode="before")
    @classmethod
    def _split_comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    host: str = Field("127.0.0.1", description="Interface `mlregistry serve` binds (`0.0.0.0` in containers).")
    port: int = Field(8000, ge=1, le=65535, description="TCP port `mlregistry serve` listens on.")
    workers: int = Field(1, ge=1, description="Worker processes of `mlregistry serve`; each has its own DB pool.")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Lowest level logged.")
    log_format: Literal["json", "text"] = Field(
        "json", description="`json`: one JSON object per line (one per request); `text` for humans."
    )
    access_log: bool = Field(True, description="Log one line per request (method, route, status, duration, ...).")
    opentelemetry: bool = Field(
        False,
        description="FastAPI's own OpenTelemetry instrumentation (spans and metrics per request, through the "
        "globally configured providers), where the installed FastAPI has it. Off, each request skips its check "
        "for configured providers.",
    )
    max_json_body_bytes: int = Field(
        2 * 1024 * 1024, ge=1, description="Largest JSON request body accepted (413 above it)."
    )
    request_timeout: float = Field(
        60.0,
        gt=0,
        description="Seconds a request may take until its response starts (504 after). Uploads count from "
        "the end of their body; streamed downloads are not cut once started.",
    )
    shutdown_timeout: int = Field(
        30, ge=1, description="Seconds SIGTERM waits for in-flight requests before closing them."
    )

    @model_validator(mode="after")
    def _production_needs_secret(self) -> Settings:
        if self.env == "production":
            key = self.secret_key.get_secret_value() if self.secret_key else ""
            if len(key.encode()) < MIN_SECRET_KEY_BYTES:
                raise ValueError(
                    "MLREGISTRY_SECRET_KEY must be set to at least 32 bytes when MLREGISTRY_ENV=production"
                )
        return self

    @model_validator(mode="after")
    def _oidc_is_complete(self) -> Settings:
        if self.oidc_issuer is not None:
            if not self.oidc_audience or not self.oidc_jwks:
                raise ValueError("MLREGISTRY_OIDC_ISSUER needs MLREGISTRY_OIDC_AUDIENCE and MLREGISTRY_OIDC_JWKS")
            if self.oidc_issuer == self.token_issuer:
                raise ValueError("MLREGISTRY_OIDC_ISSUER must differ from MLREGISTRY_TOKEN_ISSUER")
        if self.oidc_client_id is not None and (
            self.oidc_issuer is None or not self.oidc_authorization_endpoint or not self.oidc_token_endpoint
        ):
            raise ValueError(
                "MLREGISTRY_OIDC_CLIENT_ID needs MLREGISTRY_OIDC_ISSUER, MLREGISTRY_OIDC_AUTHORIZATION_ENDPOINT "
                "and MLREGISTRY_OIDC_TOKEN_ENDPOINT"
            )
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'registry.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @cached_property
    def signing_key(self) -> str:
        """The HS256 key: explicit, or (development only) generated once and kept in the data dir."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        key_file = self.data_dir / "secret.key"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not key_file.exists():
            # Write aside, then link into place: the link is atomic and fails if another process won.
            candidate = self.data_dir / f".secret.key.{os.getpid()}.{secrets.token_hex(4)}"
            candidate.write_text(secrets.token_urlsafe(48))
            candidate.chmod(0o600)
            try:
                os.link(candidate, key_file)
            except FileExistsError:
                pass
            finally:
                candidate.unlink()
        return key_file.read_text().strip()


def load_settings() -> Settings:
    return Settings()
