"""The layer's own exception.

::

    ConnectionError (builtin)      redis.exceptions.ConnectionError
               \\                     /
                 RedisUnavailable      raised by send/group_*/receive when Redis is out of reach
"""

from __future__ import annotations

from redis.exceptions import ConnectionError as RedisConnectionError


class RedisUnavailable(RedisConnectionError, ConnectionError):
    """Redis could not be reached; both redis-py's and the builtin ConnectionError."""
