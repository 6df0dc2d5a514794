"""What the database can hold, as wire types: every integer a request carries has its column's bounds.

Use these for query parameters (`Annotated[Offset, Query(...)]`) and body fields alike, so that the
OpenAPI document states each bound and a value beyond it is a 422 naming the field, never a driver
error. Strings are checked for NUL characters (which Postgres text cannot hold) in one place for
every request: `api.edge.refuse_unstorable_input`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from mlregistry.schemas.common import integral
from mlregistry.storage.base import MAX_PATH_LENGTH, MAX_SEGMENT_BYTES

# Marks a value whose maximum depends on the settings; the OpenAPI document states the running server's value.
SETTING_MAXIMUM = "x-mlregistry-maximum-setting"
MAX_PAGE_SIZE = "max_page_size"  # MLREGISTRY_MAX_PAGE_SIZE
MAX_PAGE_NUMBER = "max_page_number"  # the largest page number whose offset fits with the largest page size


def setting_maximum(bound: str) -> dict[str, Any]:
    """`json_schema_extra` of a value whose maximum is `MAX_PAGE_SIZE` or `MAX_PAGE_NUMBER`."""
    return {SETTING_MAXIMUM: bound}


def max_page_number(max_page_size: int) -> int:
    return (INT32_MAX // max_page_size) + 1


INT32_MAX = 2**31 - 1  # INTEGER columns (version numbers, steps, ML repo ids) and OFFSET, which binds as one

# An S3 multipart upload has at most 10,000 parts (the local store keeps the same rule).
MAX_MULTIPART_PARTS = 10_000


# Integers that also accept `3.0` and `"3.0"` (the SDK types some ints as floats). The bounds come
# before the lenient parsing, so that the JSON schema states them as minimum and maximum.
Lenient = BeforeValidator(integral)
# `limit` and `page_size`: their maximum is the setting MLREGISTRY_MAX_PAGE_SIZE (see api.openapi).
PageLimit = Annotated[int, Field(ge=1), Lenient]
Offset = Annotated[int, Field(ge=0, le=INT32_MAX), Lenient]
VersionNumber = Annotated[int, Field(ge=1, le=INT32_MAX), Lenient]
Step = Annotated[int, Field(ge=0, le=INT32_MAX), Lenient]
# A page number of the entity API; its maximum keeps (page - 1) * page_size an offset the database
# accepts: `max_page_number(settings.max_page_size)`, stated in the OpenAPI document.
PageNumber = Annotated[int, Field(ge=1), Lenient]
NumParts = Annotated[int, Field(ge=1, le=MAX_MULTIPART_PARTS), Lenient]

# A file path inside a version or data directory, as `storage.normalize_relative_path` accepts it:
# relative, no `..` segment, no backslash, not only `/` and `.`. The server checks it (422 naming the
# path); the schema states the same rule, so that generated clients and fuzzers know it. (No
# lookarounds: generators handle them poorly.) A segment that is neither empty, `.` nor `..`:
# At most 250 characters each (see MAX_SEGMENT_BYTES; the server counts UTF-8 bytes).
_SEGMENT = r"(?:[^/\\.\x00][^/\\\x00]{0,249}|\.[^/\\.\x00][^/\\\x00]{0,248}|\.\.[^/\\\x00]{1,248})"
_FILE_PATH = rf"(?:\./+)*{_SEGMENT}(?:/+(?:{_SEGMENT}|\.))*/*"
FILE_PATH_PATTERN = rf"^{_FILE_PATH}$"
# A directory to list: the root (empty, `/` or `.`) or a file path.
DIRECTORY_PATTERN = rf"^(?:/*\.?/*|{_FILE_PATH})$"
FILE_PATH_RULE = (
    f"A relative path (no `..`, leading `/` or backslash), at most {MAX_PATH_LENGTH} characters, each `/`-separated "
    f"segment at most {MAX_SEGMENT_BYTES} bytes in UTF-8 (a longer one is a 422 naming the path)"
)
FilePath = Annotated[
    str,
    Field(
        description=FILE_PATH_RULE,
        json_schema_extra={"pattern": FILE_PATH_PATTERN, "minLength": 1, "maxLength": MAX_PATH_LENGTH},
    ),
]
# Paths one signed-URL (or delete) request may name; the truefoundry library signs 50 at a time.
MAX_PATHS_PER_REQUEST = 1000
PathList = Annotated[
    list[FilePath],
    Field(
        min_length=1,
        max_length=MAX_PATHS_PER_REQUEST,
        description=f"1 to {MAX_PATHS_PER_REQUEST} paths (more is a 422: split them over several requests)",
    ),
]
DirectoryPath = Annotated[str, Field(json_schema_extra={"pattern": DIRECTORY_PATTERN, "maxLength": MAX_PATH_LENGTH})]

# A version tag (a key of the version-tags table): 1-256 characters without surrounding whitespace.
TAG_MAX_LENGTH = 256
Tag = Annotated[
    str,
    Field(
        json_schema_extra={
            "minLength": 1,
            "maxLength": TAG_MAX_LENGTH,
            # What str.strip() strips, named (regex engines disagree on `\s` for `\x1c-\x1f` and `\x85`).
            "pattern": r"^[^\s\x1c-\x1f\x85]([\s\S]*[^\s\x1c-\x1f\x85])?$",
        }
    ),
]
