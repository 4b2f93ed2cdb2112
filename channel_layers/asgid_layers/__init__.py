"""Redis channel layer for Django Channels, drop-in for ``channels_redis.core``."""

from __future__ import annotations

from .core import RedisChannelLayer, RedisUnavailable

__all__ = ["RedisChannelLayer", "RedisUnavailable"]
