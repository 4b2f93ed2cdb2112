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


async def _accepted_for_sending(scope, receive, send) -> bool:
    """Accept a WebSocket; ``/echo`` is served here (False), any other path is the caller's."""
    if scope["type"] != "websocket":
        return False
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    if scope["path"] == "/echo":
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message.get("text") or ""})
        return False
    return True


async def paced(scope, receive, send):
    """``/paced``: 64 KiB every second until the send fails; ``/echo``: echo every message."""
    if not await _accepted_for_sending(scope, receive, send):
        return
    watcher = asyncio.ensure_future(receive())
    try:
        while not watcher.done():
            await send({"type": "websocket.send", "bytes": MESSAGE})
            await asyncio.sleep(1)
    except OSError:
        pass
    watcher.cancel()


async def flood(scope, receive, send):
    """``/echo``: echo every message. Anything else: 64 KiB messages as fast as send()
    returns; logs (``tests.app``, WARNING) each send that has to wait, with the client's
    port and the payload bytes of the sends that returned before it."""
    if not await _accepted_for_sending(scope, receive, send):
        return
    watcher = asyncio.ensure_future(receive())
    message = {"type": "websocket.send", "bytes": MESSAGE}
    await _send_logging_waits(send, message, scope["client"][1], watcher.done)
    watcher.cancel()


async def _send_logging_waits(send, message, port, stop=lambda: False):
    """Send ``message`` (64 KiB of payload) until ``stop()`` or a send raises, logging each
    send that has to wait with the payload bytes of the sends that returned before it."""
    sent = 0
    try:
        while not stop():
            sending = asyncio.ensure_future(send(dict(message)))
            await asyncio.sleep(0)  # a send that need not wait is done after one step
            if not sending.done():
                log.warning("client %d: a send waits after %d bytes sent", port, sent)
            await sending
            sent += len(MESSAGE)
    except OSError:
        pass


async def http_flood(scope, receive, send):
    """HTTP: ``/hello`` answers at once; any other path streams 64 KiB body messages as
    fast as send() returns, logging each send that has to wait as ``flood`` does."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/hello":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"hello"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    message = {"type": "http.response.body", "body": MESSAGE, "more_body": True}
    await _send_logging_waits(send, message, scope["client"][1])
