"""Consistent hash and host choice for channels and groups."""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence
from typing import Generic, TypeVar

from .keys import non_local_name

T = TypeVar("T")

# Enough points per shard that a 3-host ring splits keys within a few percent.
_POINTS_PER_SHARD = 160


def _point(value: str) -> int:
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "big")


class HashRing(Generic[T]):
    """Maps names to shards; adding a shard moves only ~1/n of the names."""

    def __init__(self, shards: Sequence[T], names: Sequence[str]) -> None:
        if not shards or len(shards) != len(names):
            raise ValueError("need one name per shard and at least one shard")
        self._shards = list(shards)
        ring: list[tuple[int, int]] = []
        for index, name in enumerate(names):
            ring.extend((_point(f"{name}#{i}"), index) for i in range(_POINTS_PER_SHARD))
        ring.sort()
        self._points = [p for p, _ in ring]
        self._owners = [i for _, i in ring]

    @property
    def shards(self) -> list[T]:
        return list(self._shards)

    def index_for(self, key: str) -> int:
        if len(self._shards) == 1:
            return 0
        pos = bisect.bisect(self._points, _point(key)) % len(self._points)
        return self._owners[pos]

    def for_channel(self, channel: str) -> T:
        """Shard of a channel. Process-local channels route by their ``…!`` prefix
        so send and the owner's reader always meet (channels_redis#221)."""
        return self._shards[self.index_for(non_local_name(channel))]
