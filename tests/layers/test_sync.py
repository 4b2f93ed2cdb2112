"""Use from sync code through async_to_sync, and with Channels consumers."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from asgid_layers import RedisChannelLayer
from asgiref.sync import async_to_sync

from .redis_procs import RedisProc


def require_daphne() -> None:
    """channels.testing imports daphne; fail in CI, skip locally, naming it."""
    try:
        import daphne  # noqa: F401
    except ImportError:
        message = "daphne not installed (channels.testing needs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def _client_count(server: RedisProc) -> int:
    client = redis.Redis(port=server.port)
    try:
        return len(client.client_list()) - 1  # minus this connection
    finally:
        client.close()


def test_async_to_sync_repeatedly_without_leaks(
    make_layer: Callable[..., Any], redis_server: RedisProc
) -> None:
    layer: RedisChannelLayer = make_layer()
    before = _client_count(redis_server)
    for i in range(50):  # every call runs in a new, then closed, event loop
        async_to_sync(layer.send)("sync.chan", {"type": "x", "i": i})
        async_to_sync(layer.group_send)("sync.group", {"type": "x"})
    got = [async_to_sync(layer.receive)("sync.chan")["i"] for _ in range(50)]
    assert got == list(range(50))
    gc.collect()
    assert len(layer._states) <= 1
    assert _client_count(redis_server) <= before
    async_to_sync(layer.flush)()


@pytest.fixture(scope="module")
def django_settings() -> Iterator[None]:
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            INSTALLED_APPS=["channels"],
            CHANNEL_LAYERS={},
            DATABASES={},
            USE_TZ=True,
        )
        import django

        django.setup()
    yield


async def test_websocket_consumer_in_group_gets_sync_group_sends(
    make_layer: Callable[..., Any], django_settings: None
) -> None:
    require_daphne()
    from channels.generic.websocket import AsyncJsonWebsocketConsumer
    from channels.layers import channel_layers
    from channels.testing import WebsocketCommunicator

    class Room(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
        async def connect(self) -> None:
            await self.channel_layer.group_add("room", self.channel_name)
            await self.accept()

        async def disconnect(self, code: int) -> None:
            await self.channel_layer.group_discard("room", self.channel_name)

        async def chat_message(self, event: dict[str, Any]) -> None:
            await self.send_json({"n": event["n"]})

    layer = make_layer()
    previous = channel_layers.backends.get("default")
    channel_layers.set("default", layer)
    try:
        communicator = WebsocketCommunicator(Room.as_asgi(), "/ws/room/")
        connected, _ = await communicator.connect()
        assert connected

        def django_view_like() -> None:
            # Plain thread, no event loop: like a Django view or a Celery task.
            for n in range(100):
                async_to_sync(layer.group_send)("room", {"type": "chat.message", "n": n})

        await asyncio.get_running_loop().run_in_executor(None, django_view_like)
        got = [(await communicator.receive_json_from(timeout=5))["n"] for _ in range(100)]
        assert got == list(range(100))
        await communicator.disconnect()
    finally:
        if previous is None:
            channel_layers.backends.pop("default", None)
        else:
            channel_layers.set("default", previous)
        await layer.flush()
        await layer.close()
