"""Redis channel layer for Django Channels, drop-in for ``channels_redis.core``."""

from __future__ import annotations

from .core import RedisChannelLayer
from .errors import RedisUnavailable
from .pubsub import RedisPubSubChannelLayer

__all__ = ["RedisChannelLayer", "RedisPubSubChannelLayer", "RedisUnavailable"]
