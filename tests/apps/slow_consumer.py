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
