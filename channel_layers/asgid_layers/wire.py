"""Pipelined RESP connections for the layer's hot path: script calls and blocking pops.

redis-py spends more time per command than Redis does running our scripts: a pool
checkout under a lock, a task for the write timeout, a timer for the read timeout,
per-argument type checks and metrics hooks. A channel-layer message is one script
call plus, on the receiving side, one blocking pop, so that overhead is most of a
round trip. Here a command is one ``transport.write`` of pre-encoded bytes and its
reply is matched in order by ``hiredis``; many callers share one connection
(Redis answers in order), and a single watchdog timer per connection enforces the
socket timeout. Only plain hosts (``redis://``, ``unix://``, ``(host, port)``)
use it; TLS, Sentinel and Cluster hosts, and options this module does not know,
keep redis-py (connection.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import hiredis
from redis.asyncio.connection import parse_url
from redis.exceptions import (
    ConnectionError as RedisConnectionError,
    ResponseError,
    TimeoutError as RedisTimeout,
)

logger = logging.getLogger(__name__)

Arg = bytes | str | int | float
# Connection options this module understands; any other key sends the host to redis-py.
_KNOWN = {"host", "port", "path", "db", "username", "password", "client_name"}


def pack(args: Sequence[Arg]) -> bytes:
    """One command as a RESP array, encoded by hiredis: bytes as they are, str as UTF-8,
    int in decimal, float as ``repr`` (as redis-py does); anything else is a TypeError."""
    # The stub types the argument as a 1-tuple and leaves the result untyped.
    packed: bytes = hiredis.pack_command(tuple(args))  # type: ignore[arg-type]
    return packed


@dataclass(frozen=True)
class Target:
    """Where and how to connect: a TCP address or a Unix socket, then AUTH/SELECT."""

    host: str = "localhost"
    port: int = 6379
    path: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = None
    client_name: str | None = None

    @classmethod
    def from_spec(cls, url: str | None, address: Any, kwargs: dict[str, Any]) -> Target | None:
        """The target of a plain host, or None when redis-py must handle it (TLS, etc.)."""
        options: dict[str, Any] = {}
        if url is not None:
            if not url.startswith(("redis://", "unix://")):
                return None
            options.update(parse_url(url))
            kind = options.pop("connection_class", None)
            if kind is not None and kind.__name__ != "UnixDomainSocketConnection":
                return None
        elif address is not None:
            options.update(host=address[0], port=int(address[1]))
        else:
            return None
        options.update(kwargs)
        if not set(options) <= _KNOWN:
            return None
        return cls(**{k: v for k, v in options.items() if v is not None})

    def handshake(self) -> list[bytes]:
        commands = []
        if self.password is not None:
            auth = [self.username, self.password] if self.username else [self.password]
            commands.append(pack(["AUTH", *auth]))
        if self.db:
            commands.append(pack(["SELECT", self.db]))
        if self.client_name:
            commands.append(pack(["CLIENT", "SETNAME", self.client_name]))
        return commands


class _Protocol(asyncio.Protocol):
    """One connection: replies matched to waiting futures in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout_s: float | None) -> None:
        self._loop, self._timeout_s = loop, timeout_s
        self._parser = hiredis.Reader(replyError=ResponseError)
        self._pending: deque[tuple[asyncio.Future[Any], float]] = deque()
        self._transport: asyncio.Transport | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self.lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not registered as asyncio.Transport subclasses.
        self._transport = cast(asyncio.Transport, transport)

    def attach(self, transport: asyncio.BaseTransport) -> None:
        # uvloop may call connection_made only after create_connection returned.
        if self._transport is None:
            self.connection_made(transport)

    def call(self, packed: bytes) -> asyncio.Future[Any]:
        if self.lost is not None:
            raise self.lost
        future = self._loop.create_future()
        self._pending.append((future, self._loop.time()))
        assert self._transport is not None
        self._transport.write(packed)
        if self._timeout_s is not None and self._watchdog is None:
            self._watchdog = self._loop.call_later(self._timeout_s, self._check_timeout)
        return future

    def call_many(self, commands: Sequence[bytes]) -> list[asyncio.Future[Any]]:
        """Send several commands in one write; their futures in order."""
        if self.lost is not None:
            raise self.lost
        now = self._loop.time()
        futures = [self._loop.create_future() for _ in commands]
        self._pending.extend((future, now) for future in futures)
        assert self._transport is not None
        self._transport.write(b"".join(commands))
        if self._timeout_s is not None and self._watchdog is None:
            self._watchdog = self._loop.call_later(self._timeout_s, self._check_timeout)
        return futures

    def data_received(self, data: bytes) -> None:
        self._parser.feed(data)
        while (reply := self._parser.gets()) is not False:
            if not self._pending:
                self.abort(RedisConnectionError("Redis sent a reply nobody asked for"))
                return
            future, _ = self._pending.popleft()
            if future.done():  # its caller was cancelled; the reply is dropped in order
                continue
            if isinstance(reply, ResponseError):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    def _check_timeout(self) -> None:
        self._watchdog = None
        if not self._pending or self._timeout_s is None:
            return
        waited = self._loop.time() - self._pending[0][1]
        if waited >= self._timeout_s:
            self.abort(RedisTimeout(f"no reply from Redis within {self._timeout_s} s"))
        else:
            self._watchdog = self._loop.call_later(self._timeout_s - waited, self._check_timeout)

    def abort(self, error: Exception) -> None:
        """Fail every waiting call with ``error`` and drop the connection."""
        if self.lost is None:
            self.lost = error
        if self._transport is not None:
            self._transport.abort()
        self._fail_pending()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost is None:
            reason = f": {exc}" if exc else ""
            self.lost = RedisConnectionError(f"connection to Redis lost{reason}")
        self._fail_pending()

    def _fail_pending(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        assert self.lost is not None
        while self._pending:
            future, _ = self._pending.popleft()
            if not future.done():
                future.set_exception(self.lost)
                # Pops sent ahead in one write have no awaiter once their reader stops;
                # marking the error seen keeps asyncio from logging it as never retrieved,
                # while a caller that does await the future still gets it raised.
                future.exception()


class WireConnection:
    """A lazily (re)opened pipelined connection; ``call`` may be used concurrently."""

    def __init__(
        self, target: Target, *, timeout_s: float | None, connect_timeout_s: float
    ) -> None:
        self._target, self._timeout_s = target, timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None

    async def call(self, packed: bytes) -> Any:
        protocol = self._protocol
        if protocol is None or protocol.lost is not None:
            protocol = await self._connected()
        return await protocol.call(packed)

    async def send_many(self, commands: Sequence[bytes]) -> list[asyncio.Future[Any]]:
        """Send ``commands`` in one write (connecting first if needed); await the
        returned futures for their replies, in order."""
        protocol = self._protocol
        if protocol is None or protocol.lost is not None:
            protocol = await self._connected()
        return protocol.call_many(commands)

    async def _connected(self) -> _Protocol:
        # Concurrent callers after a loss share one reconnection.
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        finally:
            if self._connecting is connecting and connecting.done():
                self._connecting = None

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        target = self._target

        def factory() -> _Protocol:
            return _Protocol(loop, self._timeout_s)

        if target.path is not None:
            opening = loop.create_unix_connection(factory, target.path)
        else:
            opening = loop.create_connection(factory, target.host, target.port)
        try:
            transport, protocol = await asyncio.wait_for(opening, self._connect_timeout_s)
        except (OSError, asyncio.TimeoutError) as exc:
            raise RedisConnectionError(f"cannot connect to Redis at {target}: {exc}") from exc
        protocol.attach(transport)
        try:
            for command in target.handshake():
                await protocol.call(command)
        except ResponseError as exc:
            protocol.abort(RedisConnectionError(str(exc)))
            raise RedisConnectionError(f"Redis refused the connection set-up: {exc}") from exc
        self._protocol = protocol
        return protocol

    def abort(self) -> None:
        """Drop the connection now (a cancelled blocking pop must not pop later)."""
        if self._protocol is not None:
            self._protocol.abort(RedisConnectionError("connection closed by the layer"))
            self._protocol = None

    async def aclose(self) -> None:
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
        self.abort()


class WireScript:
    """A Lua script run with EVALSHA, loaded again when Redis answers NOSCRIPT."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def run(
        self, connection: WireConnection, keys: Sequence[Arg], args: Sequence[Arg]
    ) -> Any:
        packed = pack(["EVALSHA", self.sha, len(keys), *keys, *args])
        try:
            return await connection.call(packed)
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        await connection.call(pack(["SCRIPT", "LOAD", self.source]))
        return await connection.call(packed)
