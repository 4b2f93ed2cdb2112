"""Counters both layers export through ``stats()``."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class LayerStats:
    """Counters exported by ``RedisChannelLayer.stats()``."""

    sent: int = 0
    received: int = 0
    group_sends: int = 0
    group_deliveries: int = 0
    over_capacity: int = 0
    expired: int = 0
    dropped_idle: int = 0
    reconnects: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
