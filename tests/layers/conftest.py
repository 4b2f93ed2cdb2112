"""Fixtures for the channel layer tests: private Redis processes on free ports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .redis_procs import RedisProc, free_port


@pytest.fixture(scope="session")
def redis_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RedisProc]]:
    started: list[RedisProc] = []

    def make(*extra: str) -> RedisProc:
        port = free_port()
        proc = RedisProc(port, tmp_path_factory.mktemp(f"redis{port}"), list(extra))
        started.append(proc.start())
        return proc

    yield make
    for proc in started:
        proc.stop()


@pytest.fixture(scope="session")
def redis_server(redis_factory: Callable[..., RedisProc]) -> RedisProc:
    return redis_factory()


@pytest.fixture(scope="session")
def redis_shards(redis_factory: Callable[..., RedisProc]) -> list[RedisProc]:
    return [redis_factory() for _ in range(3)]


@pytest.fixture
def make_layer(redis_server: RedisProc) -> Iterator[Callable[..., Any]]:
    """Build layers on the shared test server with a unique prefix per test."""
    from asgid_layers import RedisChannelLayer

    counter = iter(range(1000))
    prefix = f"t{free_port()}"

    def make(**config: Any) -> RedisChannelLayer:
        config.setdefault("hosts", [redis_server.url])
        config.setdefault("prefix", f"{prefix}-{next(counter)}")
        return RedisChannelLayer(**config)

    yield make


@pytest.fixture
async def layer(make_layer: Callable[..., Any]) -> AsyncIterator[Any]:
    instance = make_layer()
    yield instance
    await instance.flush()
    await instance.close()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
