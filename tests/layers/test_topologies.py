"""Redis Sentinel (discovery, failover) and Redis Cluster (hash-tagged keys)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from asgid_layers import RedisChannelLayer

from .redis_procs import RedisProc, free_port, require_tool


def _wait(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[RedisProc]]:
    require_tool("redis-cli")
    nodes: list[RedisProc] = []
    try:
        for _ in range(3):
            port = free_port()
            extra = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
            extra += ["--cluster-node-timeout", "2000"]
            node = RedisProc(port, tmp_path_factory.mktemp(f"cluster{port}"), extra)
            nodes.append(node.start())
        addresses = [f"127.0.0.1:{n.port}" for n in nodes]
        nodes[0].cli("--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes")
        for node in nodes:
            _wait(lambda n=node: "cluster_state:ok" in n.cli("cluster", "info"), 20, "cluster")
        yield nodes
    finally:
        for node in nodes:
            node.stop()


async def test_cluster_send_receive_groups(cluster: list[RedisProc]) -> None:
    url = f"redis+cluster://127.0.0.1:{cluster[0].port}"
    a = RedisChannelLayer(hosts=[url], prefix="cl", capacity=5)
    b = RedisChannelLayer(hosts=[("127.0.0.1", cluster[1].port)], cluster=True, prefix="cl")
    try:
        local = [await a.new_channel() for _ in range(5)] + [
            await b.new_channel() for _ in range(5)
        ]
        named = [f"cl.named{i}" for i in range(40)]
        for i, channel in enumerate(local + named):
            await b.send(channel, {"type": "x", "i": i})
        owners = [a] * 5 + [b] * 5 + [a] * 40
        got = [await o.receive(c) for o, c in zip(owners, local + named, strict=True)]
        assert [m["i"] for m in got] == list(range(50))
        for channel in named:
            await a.group_add("everyone", channel)
        for channel in local:
            await b.group_add("everyone", channel)
        await a.group_send("everyone", {"type": "all"})
        assert a.stats()["group_deliveries"] == 50
        got = await asyncio.gather(
            *(o.receive(c) for o, c in zip(owners, local + named, strict=True))
        )
        assert all(m == {"type": "all"} for m in got)
        for node in cluster:  # keys spread over every master
            assert redis.Redis(port=node.port).dbsize() > 0
    finally:
        await a.flush()
        for layer in (a, b):
            await layer.close()


def _sentinel_conf(path: Path, port: int, master_port: int) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    conf = path / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {path}\n"
        f"sentinel monitor mymaster 127.0.0.1 {master_port} 1\n"
        "sentinel down-after-milliseconds mymaster 5000\n"
        "sentinel failover-timeout mymaster 5000\n"
    )
    return conf


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[tuple[RedisProc, RedisProc, RedisProc]]:
    require_tool("redis-sentinel")
    master = RedisProc(free_port(), tmp_path / "master").start()
    replica = RedisProc(
        free_port(), tmp_path / "replica", ["--replicaof", "127.0.0.1", str(master.port)]
    ).start()
    port = free_port()
    watcher = RedisProc(
        port,
        tmp_path / "sentinel",
        binary="redis-sentinel",
        config_file=_sentinel_conf(tmp_path / "sentinel", port, master.port),
    )
    try:
        watcher.start()
        _wait(lambda: "slaves=1" in watcher.cli("info", "sentinel"), 20, "sentinel sees replica")
        yield master, replica, watcher
    finally:
        for proc in (watcher, replica, master):
            proc.stop()


def _master_port(watcher: RedisProc) -> int:
    return int(watcher.cli("sentinel", "get-master-addr-by-name", "mymaster").split()[1])


async def test_sentinel_discovery_and_failover(
    sentinel: tuple[RedisProc, RedisProc, RedisProc],
) -> None:
    master, replica, watcher = sentinel
    hosts = [{"master_name": "mymaster", "sentinels": [("127.0.0.1", watcher.port)]}]
    layer = RedisChannelLayer(hosts=hosts, prefix="sn")
    try:
        local = await layer.new_channel()
        await layer.send(local, {"type": "before"})
        assert await layer.receive(local) == {"type": "before"}
        assert redis.Redis(port=master.port).dbsize() > 0
        blocked = asyncio.ensure_future(layer.receive(local))
        loop = asyncio.get_running_loop()
        # Refused (NOGOODSLAVE) until the sentinel has fresh INFO from the replica.
        await loop.run_in_executor(
            None,
            _wait,
            lambda: watcher.cli("sentinel", "failover", "mymaster").strip() == "OK",
            30,
            "failover accepted",
        )
        await loop.run_in_executor(
            None, _wait, lambda: _master_port(watcher) == replica.port, 30, "failover"
        )
        # Sentinel failover is asynchronous: until the old master has been demoted,
        # a client still connected to it can write there and that write is lost
        # when it resyncs (a Redis property, not the layer's). Wait for both roles.
        for proc, role in ((replica, "role:master"), (master, "role:slave")):
            await loop.run_in_executor(
                None, _wait, lambda p=proc, r=role: r in p.cli("info", "replication"), 30, role
            )
        deadline = time.monotonic() + 20
        while True:  # the old master may still be demoting itself
            try:
                await layer.send(local, {"type": "after"})
                break
            except ConnectionError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        assert await asyncio.wait_for(blocked, 20) == {"type": "after"}
        await layer.send("sn.named", {"type": "named"})
        assert await layer.receive("sn.named") == {"type": "named"}
    finally:
        await layer.close()
