"""Connection pools per host (URL, address, Sentinel, Cluster), per event loop, and closing.

Two clients per host and loop: ``command`` for short commands and ``blocking``
for blocking pops, whose socket timeout is far longer than the block time.
redis-py 8's 5 s socket timeout equals channels_redis' 5 s pop and killed idle
receives (channels_redis#422).

A command is sent again at most once, and only after a ConnectionError: the
connection was refused, or closed or reset by Redis (a pooled connection that
went stale when Redis restarted), where it cannot have run. A command that
timed out may have run in Redis with its reply lost on the way back; sending it
again would deliver it twice, so the caller gets the error instead (and the
background readers retry their own pops).

Plain hosts also get the hot path of ``wire.py``: one pipelined connection for
script calls (``wire``) and one connection per reader for its blocking pops
(``blocking_wire()``), with the same timeouts; they never send a command twice
(a lost connection fails the calls waiting on it, the next call reconnects).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.connection import ConnectionPool
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from .config import HostSpec
from .wire import Target, WireConnection

logger = logging.getLogger(__name__)

#: Seconds a blocking pop waits server-side before returning empty.
BLOCK_S = 2
# Socket timeout of blocking clients. Long on purpose: a pop Redis answered during
# a network partition reaches the reader by TCP retransmission once the link is
# back, as long as the socket is still open; closing it earlier loses what the
# pop took. Receivers do not wait for it: see ``reconnect_timeout``.
_BLOCKING_SOCKET_TIMEOUT_S = BLOCK_S + 28
# Socket timeout of short commands: a send over a silently cut link fails with
# RedisUnavailable after this instead of hanging for TCP's minutes.
_COMMAND_SOCKET_TIMEOUT_S = 5
_CONNECT_TIMEOUT_S = 2
# Large on purpose: concurrency is bounded by callers, and redis-py 8's default
# cap of 100 made >100 concurrent receives fail in channels_redis.
_MAX_CONNECTIONS = 10_000


def _defaults() -> dict[str, Any]:
    # redis-py 8 retries 10 times with up to 1 s backoff, timeouts included: a
    # command whose reply was lost after it ran would run twice (see above).
    # redis.TimeoutError is not a ConnectionError, so it is not retried.
    return {
        "socket_connect_timeout": _CONNECT_TIMEOUT_S,
        "socket_timeout": _COMMAND_SOCKET_TIMEOUT_S,
        "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        "decode_responses": False,
    }


@dataclass
class HostClients:
    """The clients of one host for one event loop."""

    label: str
    command: Any
    blocking: Any
    extra: list[Any] = field(default_factory=list)
    target: Target | None = None  # set for plain hosts: wire.py serves the hot path
    wire: WireConnection | None = None

    def blocking_wire(self) -> WireConnection | None:
        """A new connection of its own for one reader's blocking pops (plain hosts)."""
        if self.target is None:
            return None
        return WireConnection(
            self.target,
            timeout_s=_BLOCKING_SOCKET_TIMEOUT_S,
            connect_timeout_s=_CONNECT_TIMEOUT_S,
        )

    async def aclose(self) -> None:
        if self.wire is not None:
            await self.wire.aclose()
        for client in (self.command, self.blocking, *self.extra):
            try:
                if isinstance(client, RedisCluster):
                    await client.aclose()
                else:
                    await client.aclose(close_connection_pool=True)
            except Exception:  # closing must go on for the others
                logger.debug("error closing %s client", self.label, exc_info=True)


def open_host(spec: HostSpec) -> HostClients:
    """Create (lazily connecting) clients for a plain or Sentinel host."""
    if spec.master_name:
        return _open_sentinel(spec)
    clients = [_plain(spec, blocking=flag) for flag in (False, True)]
    target = Target.from_spec(spec.url, spec.address, dict(spec.kwargs))
    wire = None
    if target is not None:
        wire = WireConnection(
            target, timeout_s=_COMMAND_SOCKET_TIMEOUT_S, connect_timeout_s=_CONNECT_TIMEOUT_S
        )
    return HostClients(spec.label, clients[0], clients[1], target=target, wire=wire)


def _plain(spec: HostSpec, *, blocking: bool) -> Redis:
    kwargs = {**_defaults(), **spec.kwargs, "max_connections": _MAX_CONNECTIONS}
    if blocking:
        kwargs["socket_timeout"] = _BLOCKING_SOCKET_TIMEOUT_S
    if spec.url:
        pool = ConnectionPool.from_url(spec.url, **kwargs)
    else:
        assert spec.address is not None
        pool = ConnectionPool(host=spec.address[0], port=spec.address[1], **kwargs)
    return Redis(connection_pool=pool)


def _open_sentinel(spec: HostSpec) -> HostClients:
    assert spec.master_name is not None
    kwargs = {**_defaults(), **spec.kwargs}
    sentinel_kwargs = {"socket_connect_timeout": 2, **spec.sentinel_kwargs}
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(spec.sentinels), sentinel_kwargs=sentinel_kwargs, **kwargs
    )
    command = sentinel.master_for(spec.master_name, max_connections=_MAX_CONNECTIONS)
    blocking = sentinel.master_for(
        spec.master_name,
        max_connections=_MAX_CONNECTIONS,
        socket_timeout=_BLOCKING_SOCKET_TIMEOUT_S,
    )
    return HostClients(spec.label, command, blocking, extra=list(sentinel.sentinels))


def open_cluster(specs: tuple[HostSpec, ...]) -> HostClients:
    """One Cluster client pair from the startup nodes listed in ``hosts``."""
    first = specs[0]
    kwargs = {**_defaults(), **first.kwargs}
    nodes = []
    for spec in specs:
        if spec.url:
            url = spec.url.replace("+cluster", "", 1)
            return _cluster_from_url(url, kwargs, first.label)
        assert spec.address is not None
        nodes.append(ClusterNode(spec.address[0], spec.address[1]))
    command = RedisCluster(startup_nodes=nodes, **kwargs)
    blocking = RedisCluster(
        startup_nodes=nodes, **{**kwargs, "socket_timeout": _BLOCKING_SOCKET_TIMEOUT_S}
    )
    return HostClients(first.label, command, blocking)


def _cluster_from_url(url: str, kwargs: dict[str, Any], label: str) -> HostClients:
    command = RedisCluster.from_url(url, **kwargs)
    blocking = RedisCluster.from_url(
        url, **{**kwargs, "socket_timeout": _BLOCKING_SOCKET_TIMEOUT_S}
    )
    return HostClients(label, command, blocking)
