"""examples/starlette_app.py served by a real asgid: its HTTP route, lifespan and WebSocket echo."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from websockets.asyncio.client import connect

APP = "examples.starlette_app:app"


def test_http_route_and_lifespan_state(asgid: Any) -> None:
    server = asgid(APP)
    first = httpx.get(f"{server.url}/hello/ann").json()
    second = httpx.get(f"{server.url}/").json()
    assert first == {"hello": "ann", "http_version": "1.1", "visits": 1}
    assert second == {"hello": "world", "http_version": "1.1", "visits": 2}
    server.stop()
    assert "starlette example stopped" in server.output


async def test_websocket_echo(asgid: Any) -> None:
    server = asgid(APP)
    async with connect(f"ws://{server.host}:{server.port}/ws/echo") as ws:
        for text in ("hello", "second message"):
            await ws.send(text)
            assert await asyncio.wait_for(ws.recv(), 5) == text.upper()
