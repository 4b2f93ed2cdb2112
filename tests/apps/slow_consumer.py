"""A WebSocket app that sends 64 KiB messages as fast as it may, for clients that stop
reading. Logs (on ``tests.app``, WARNING) how its send ended and what receive() said."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("tests.app")
MESSAGE = b"m" * 65536


async def app(scope, receive, send):
    if scope["type"] != "websocket":
        return
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})

    async def watch():
        message = await receive()
        log.warning("receive gave %s code %s", message["type"], message.get("code"))

    watcher = asyncio.ensure_future(watch())
    try:
        while True:
            await send({"type": "websocket.send", "bytes": MESSAGE})
    except OSError as exc:
        log.warning("send raised %s", type(exc).__name__)
    await watcher


async def paced(scope, receive, send):
    """``/paced``: 64 KiB every second until the send fails; ``/echo``: echo every message."""
    if scope["type"] != "websocket":
        return
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    if scope["path"] == "/echo":
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message.get("text") or ""})
        return
    watcher = asyncio.ensure_future(receive())
    try:
        while not watcher.done():
            await send({"type": "websocket.send", "bytes": MESSAGE})
            await asyncio.sleep(1)
    except OSError:
        pass
    watcher.cancel()
