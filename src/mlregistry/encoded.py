"""List items as JSON, kept by the stored content they were made from.

A version list item is a pure function of its row as the list reads it (the version's columns with the JSON
documents as their stored text, the entity's and ML repo's names) and of the family and tenant it is shown
in. Making it (decoding the documents, building the wire dict, encoding it) costs far more than looking its
content up, so each server process keeps recently made items by that content. There is nothing to
invalidate: a version that changes in any way reads back as different content, which is a different key,
and its old entry is never looked up again; entries leave in insertion order when the byte budget is used.

An item is kept on the second time its content is made within a while (a set of the hashes of contents seen
once, emptied when it fills): a list that walks more items than the budget holds (every model's first page
in turn) then keeps nothing and pays one set lookup per item, instead of evicting an entry for each one.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import orjson

from mlregistry.metrics import LIST_ITEM_CACHE_LOOKUPS

# What an entry holds besides its encoded bytes and its content's objects: the key's tuple, the dict slot,
# the value's tuple and the fragment and bytes objects.
_ENTRY_OVERHEAD = 250
# When full, the cache frees 1/EVICTED_SHARE of its budget at once (oldest entries first).
EVICTED_SHARE = 16


def encode_item(item: Any) -> bytes:
    """JSON as every response is encoded (`api.responses.JSONResponse`): compact UTF-8 in insertion order, by
    orjson, or by the standard library for what orjson cannot encode (integers beyond 64 bits)."""
    try:
        return orjson.dumps(item, option=orjson.OPT_NON_STR_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(item, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


class EncodedItems:
    """Encoded list items by (kind, tenant, row content), within `max_bytes` (0: none are kept). Used from one
    event loop: no await between a lookup and what it decides."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.used = 0
        self._items: dict[tuple[Any, ...], tuple[orjson.Fragment, int]] = {}
        self._seen_once: set[int] = set()
        # Hashes remembered for admission: about as many as the budget holds entries (2 KiB or so each).
        self._seen_limit = max(64, max_bytes // 2048)

    def __len__(self) -> int:
        return len(self._items)

    def offer(self, key: tuple[Any, ...], encoded: bytes) -> None:
        """Keep `encoded` (an item's JSON) under `key`, (kind, tenant, content), if that key was offered before,
        recently. An entry counts its bytes, its content's objects (which it keeps alive) and its own
        structures against the budget."""
        key_hash = hash(key)
        seen = self._seen_once
        if key_hash not in seen:
            if len(seen) >= self._seen_limit:
                seen.clear()
            seen.add(key_hash)
            return
        seen.discard(key_hash)
        content = key[-1]
        size = _ENTRY_OVERHEAD + len(encoded) + sys.getsizeof(content) + sum(map(sys.getsizeof, content))
        items = self._items
        if size > self.max_bytes or key in items:
            return
        if self.used + size > self.max_bytes:
            self._evict(self.max_bytes - self.max_bytes // EVICTED_SHARE - size)
        # A copy of exactly its length: orjson's output keeps the capacity it grew to (about 4 KiB for an item
        # of a few hundred bytes).
        items[key] = (orjson.Fragment(bytes(memoryview(encoded))), size)
        self.used += size

    def _evict(self, target: int) -> None:
        """Drop the oldest entries until at most `target` bytes are used: a sixteenth of the budget at once, in
        one walk from the oldest. (Dropping one entry per admission would walk, each time, past every slot
        the dict has emptied at its front since it last compacted: about 2 µs an admission at 8,000 entries.)"""
        items = self._items
        dropped = []
        used = self.used
        for key, (_, size) in items.items():
            if used <= target:
                break
            dropped.append(key)
            used -= size
        for key in dropped:
            del items[key]
        self.used = used

    def encode_page(
        self,
        kind: str,
        tenant: str,
        contents: list[tuple[Any, ...]],
        make: Callable[[tuple[Any, ...]], Any],
        keep: Callable[[tuple[Any, ...]], bool] | None = None,
    ) -> list[orjson.Fragment]:
        """Each content's item, encoded: kept, or made by `make(content)` (a wire dict) and offered.
        `keep(content)` says whether the content alone makes the item (default: always); items it refuses
        are made every time."""
        items: list[orjson.Fragment] = []
        hits = misses = 0
        lookup = self._items.get
        enabled = self.max_bytes > 0
        for content in contents:
            if not enabled or (keep is not None and not keep(content)):
                items.append(orjson.Fragment(encode_item(make(content))))
                continue
            key = (kind, tenant, content)
            found = lookup(key)
            if found is not None:
                items.append(found[0])
                hits += 1
                continue
            encoded = encode_item(make(content))
            items.append(orjson.Fragment(encoded))
            misses += 1
            self.offer(key, encoded)
        if hits:
            LIST_ITEM_CACHE_LOOKUPS.labels(result="hit").inc(hits)
        if misses:
            LIST_ITEM_CACHE_LOOKUPS.labels(result="miss").inc(misses)
        if len(items) > hits + misses:
            LIST_ITEM_CACHE_LOOKUPS.labels(result="bypass").inc(len(items) - hits - misses)
        return items
