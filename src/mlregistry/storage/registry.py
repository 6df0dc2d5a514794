"""The configured storages, by name, and which one holds an ML repo's files."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from mlregistry.settings import Settings
from mlregistry.storage.base import Storage
from mlregistry.storage.local import LocalStorage
from mlregistry.storage.signing import UrlSigner

DEFAULT_STORAGE_NAME = "default"


class StorageRegistry:
    def __init__(self, default: Storage, named: dict[str, Storage]) -> None:
        self.default = default
        self.named = {DEFAULT_STORAGE_NAME: default, **named}

    def for_repo(self, storage_integration_fqn: str) -> Storage:
        """The storage an ML repo's `storage_integration_fqn` names; the default for any other value."""
        return self.named.get(storage_integration_fqn, self.default)

    def owns(self, uri: str) -> bool:
        """Whether the URI lies inside one of the configured storages (a location this server manages)."""
        return any(storage.prefix_for_uri(uri) is not None for storage in self.named.values())

    def by_name(self, name: str) -> Storage | None:
        return self.named.get(name)


def _build(name: str, url: str | None, settings: Settings, signer: UrlSigner) -> Storage:
    ttl = settings.signed_url_ttl_seconds
    if url is None:
        return LocalStorage(name, settings.data_dir / "artifacts", signer, ttl)
    parsed = urlparse(url)
    if parsed.scheme == "s3" and parsed.netloc:
        # boto3 and botocore take about 9 MB in each worker: only a process with an S3 store loads them.
        from mlregistry.storage.s3 import S3Storage

        return S3Storage(
            name, parsed.netloc, parsed.path, settings.s3_endpoint_url, ttl, settings.s3_public_endpoint_url
        )
    if parsed.scheme == "file" and parsed.path.startswith("/"):
        return LocalStorage(name, Path(parsed.path), signer, ttl)
    raise ValueError(f"storage '{name}': unsupported URL {url!r} (use s3://bucket/prefix or file:///path)")


def build_storages(settings: Settings) -> StorageRegistry:
    signer = UrlSigner.from_secret(settings.signing_key)
    default = _build(DEFAULT_STORAGE_NAME, settings.storage_url, settings, signer)
    named = {
        name: _build(name, url, settings, signer)
        for name, url in settings.storages.items()
        if name != DEFAULT_STORAGE_NAME
    }
    return StorageRegistry(default, named)
