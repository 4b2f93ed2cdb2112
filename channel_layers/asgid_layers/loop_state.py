"""The state of one layer in one event loop: its Redis clients, shards, readers.

Sockets and tasks belong to the loop that made them, so a layer keeps one
:class:`LoopState` per loop. Each is closed by an async generator finalizer when its
loop shuts down (``asyncio.run`` and asgiref call ``shutdown_asyncgens``), or by the
layer's ``close()``.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
import weakref
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from .config import LayerConfig
from .connection import HostClients, open_cluster, open_host
from .heartbeat import Heartbeat
from .keys import ShardKeys
from .readers import LocalReader, NamedFetcher
from .scripts import Scripts
from .sharding import HashRing


@dataclass(frozen=True)
class Shard:
    """One shard: where its keys live, the clients that reach it, its scripts."""

    keys: ShardKeys
    clients: HostClients
    scripts: Scripts


class LoopState:
    """Clients, readers and fetchers of one layer in one event loop."""

    def __init__(self, config: LayerConfig, sources: dict[str, str]) -> None:
        self.token = uuid.uuid4().hex
        if config.cluster:
            clients = open_cluster(config.hosts)
            self.hosts = [clients]
            scripts = Scripts(clients.command, sources)
            tags = [f"s{i}" for i in range(config.cluster_shards)]
            shards = [Shard(ShardKeys(config.prefix, t), clients, scripts) for t in tags]
        else:
            self.hosts = [open_host(spec) for spec in config.hosts]
            tags = [hashlib.sha1(h.label.encode()).hexdigest()[:8] for h in self.hosts]
            shards = [
                Shard(ShardKeys(config.prefix, t), h, Scripts(h.command, sources, h.wire))
                for t, h in zip(tags, self.hosts, strict=True)
            ]
        self.ring = HashRing(shards, tags)
        self.readers: dict[str, LocalReader] = {}
        self.fetchers: dict[str, NamedFetcher] = {}
        # Process-local channel -> (its reader, its local part): a consumer receives on
        # one name over and over, so the name is checked and split once. Cleared with
        # the readers it points to.
        self.routes: dict[str, tuple[LocalReader, str]] = {}
        self.heartbeat = Heartbeat(
            ring=self.ring,
            process_expiry=config.process_expiry,
            group_expiry=config.group_expiry,
        )
        self.finalizer: AsyncGenerator[None, None] | None = None
        self.closed = False

    async def stop_readers(self) -> None:
        """Stop and forget every reader and fetcher, and the routes that lead to them."""
        for fetcher in self.fetchers.values():
            await fetcher.aclose()
        for reader in self.readers.values():
            await reader.aclose()
        self.fetchers.clear()
        self.readers.clear()
        self.routes.clear()

    async def aclose(self) -> None:
        self.closed = True
        await self.heartbeat.aclose()
        await self.stop_readers()
        for host in self.hosts:
            await host.aclose()


async def close_with_loop(
    states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any],
    loop: asyncio.AbstractEventLoop,
) -> AsyncGenerator[None, None]:
    # Suspended at its yield for the loop's whole life; the loop's
    # shutdown_asyncgens() resumes it into the finally block. The entry must be
    # removed explicitly: the state's sockets reference the loop, so the weak key
    # alone would never die.
    try:
        yield
    finally:
        state = states.pop(loop, None)
        if state is not None:
            await state.aclose()
