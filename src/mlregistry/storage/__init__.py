"""Where artifact bytes live: a Storage protocol with a local-disk and an S3 implementation.

Keys are POSIX paths relative to the storage root (`<ml_repo_id>/<version_id>/<file path>`). The API
process hands out signed URLs for them; with S3 it never touches the bytes on upload or download.
"""

from mlregistry.storage.base import (
    READ,
    WRITE,
    ChildEntry,
    MultipartUpload,
    ObjectInfo,
    Storage,
    StorageError,
    normalize_relative_path,
)
from mlregistry.storage.registry import StorageRegistry, build_storages

__all__ = [
    "READ",
    "WRITE",
    "ChildEntry",
    "MultipartUpload",
    "ObjectInfo",
    "Storage",
    "StorageError",
    "StorageRegistry",
    "build_storages",
    "normalize_relative_path",
]
