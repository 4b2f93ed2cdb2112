"""The WebSocket examples work as documented: raw ASGI echo, Starlette, Django Channels."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

pytest.importorskip("channels")


async def test_ws_echo_example(asgid) -> None:  # type: ignore[no-untyped-def]
    proc = asgid("examples.ws_echo:app")
    async with connect(f"ws://127.0.0.1:{proc.port}/") as ws:
        await ws.send("ping")
        assert await ws.recv() == "ping"
        await ws.send(b"\x01")
        assert await ws.recv() == b"\x01"


async def test_starlette_websocket(asgid) -> None:  # type: ignore[no-untyped-def]
    proc = asgid("tests.apps.ws:starlette_app", "--factory")
    async with connect(f"ws://127.0.0.1:{proc.port}/ws") as ws:
        await ws.send("hello")
        assert await ws.recv() == "HELLO"
    async with connect(f"ws://127.0.0.1:{proc.port}/ws") as ws:
        await ws.send("leave")
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, "policy")


async def test_channels_consumers(asgid) -> None:  # type: ignore[no-untyped-def]
    proc = asgid("examples.channels_consumer:application")
    base = f"ws://127.0.0.1:{proc.port}"
    async with connect(f"{base}/ws/echo/", subprotocols=["echo"]) as ws:
        assert ws.subprotocol == "echo"
        await ws.send("hi")
        assert await ws.recv() == "hi"
    with pytest.raises(InvalidStatus) as info:
        await connect(f"{base}/ws/echo/", subprotocols=["other"])
    assert info.value.response.status_code == 403
    async with connect(f"{base}/ws/chat/lobby/") as alice, connect(f"{base}/ws/chat/lobby/") as bob:
        await alice.send(json.dumps({"text": "hello bob"}))
        got = await asyncio.wait_for(bob.recv(), 5)
        assert json.loads(got) == {"text": "hello bob"}
        assert json.loads(await asyncio.wait_for(alice.recv(), 5)) == {"text": "hello bob"}
