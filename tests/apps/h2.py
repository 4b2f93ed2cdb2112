"""Test app for the HTTP/2 and TLS tests: one app, behaviour chosen by path."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile

from tests.apps.basic import jsonable

logger = logging.getLogger("asgid.testapp")


async def _read_body(receive):
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send, body, status=200, headers=()):
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/octet-stream"), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    if scope["type"] == "websocket" and scope["path"] == "/echo":
        await ws_echo(receive, send)
        return
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps(jsonable(dict(scope)))})
        await send({"type": "websocket.close", "code": 1000})
        return
    path = scope["path"]
    handler = ROUTES.get(path.split("/")[1] if path.count("/") else path, hello)
    await handler(scope, receive, send)


async def ws_echo(receive, send):
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            logger.warning("ws_echo disconnected with code %s", message.get("code"))
            return
        await send(
            {"type": "websocket.send", "bytes": message.get("bytes"), "text": message.get("text")}
        )


async def hello(scope, receive, send):
    await _respond(send, b"Hello, world!")


async def echo(scope, receive, send):
    """Answer with the request body (upload and download of the same size)."""
    body = await _read_body(receive)
    if body is not None:
        await _respond(send, body)


async def scope_echo(scope, receive, send):
    await _read_body(receive)
    await _respond(send, json.dumps(jsonable(dict(scope))).encode())


async def big(scope, receive, send):
    """``/big/<n>``: n bytes, sent in 16 KiB messages."""
    size = int(scope["path"].split("/")[2])
    await send({"type": "http.response.start", "status": 200, "headers": []})
    sent = 0
    while sent < size:
        chunk = min(16384, size - sent)
        sent += chunk
        await send({"type": "http.response.body", "body": b"x" * chunk, "more_body": sent < size})
    if size == 0:
        await send({"type": "http.response.body", "body": b""})


async def upload_watch(scope, receive, send):
    """Read the body; log when the client goes away (RST_STREAM mid-upload)."""
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            logger.warning("upload_watch disconnected after %d bytes", received)
            return
        received += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    await _respond(send, str(received).encode())


async def hold(scope, receive, send):
    """Wait until the client disconnects; never answer."""
    while (await receive())["type"] != "http.disconnect":
        pass


_started = {"counted": 0}


async def counted(scope, receive, send):
    """Count this app start, then wait as ``hold`` does; ``/count`` answers how many so far."""
    _started["counted"] += 1
    await hold(scope, receive, send)


async def count(scope, receive, send):
    await _respond(send, str(_started["counted"]).encode())


async def stall(scope, receive, send):
    """Neither read nor answer for a while (the request body piles up against its window)."""
    await asyncio.sleep(3)


async def slow(scope, receive, send):
    """Answer after 0.5 s: a request in flight while the server shuts down."""
    await _read_body(receive)
    logger.warning("slow request started")
    await asyncio.sleep(0.5)
    await _respond(send, b"slow done")


async def trailers(scope, receive, send):
    await _read_body(receive)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"trailer", b"x-checksum")],
            "trailers": True,
        }
    )
    await send({"type": "http.response.body", "body": b"part one, ", "more_body": True})
    await send({"type": "http.response.body", "body": b"part two"})
    await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"abc123")]})


async def push(scope, receive, send):
    await _read_body(receive)
    if "http.response.push" in scope["extensions"]:
        await send({"type": "http.response.push", "path": "/style.css", "headers": []})
    await _respond(send, b"<html>pushed</html>")


async def style(scope, receive, send):
    await _respond(send, b"body { color: red }", headers=[(b"x-pushed", b"yes")])


def _file(size):
    fd, name = tempfile.mkstemp(prefix="asgid-h2-test-")
    os.write(fd, bytes(range(256)) * (size // 256))
    os.close(fd)
    return name


async def pathsend(scope, receive, send):
    await _read_body(receive)
    name = _file(300_000)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.pathsend", "path": name})
    os.unlink(name)


async def zerocopy(scope, receive, send):
    await _read_body(receive)
    name = _file(300_000)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    with open(name, "rb") as file:
        await send(
            {
                "type": "http.response.zerocopysend",
                "file": file,
                "offset": 256,
                "count": 1000,
                "more_body": True,
            }
        )
        await send({"type": "http.response.zerocopysend", "file": file, "offset": 1256})
    os.unlink(name)


async def flood(scope, receive, send):
    """Send 16 KiB chunks for as long as send() lets it; log how send ended and what
    receive() then gave (for --send-timeout against a client that takes nothing)."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    try:
        while True:
            await send({"type": "http.response.body", "body": b"f" * 16384, "more_body": True})
    except OSError as exc:
        logger.warning("flood send raised %s", type(exc).__name__)
    logger.warning("flood receive gave %s", (await receive())["type"])


async def pathflood(scope, receive, send):
    """``flood`` with one 64 MB file body (``http.response.pathsend``)."""
    name = _file(64 * 2**20)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    try:
        await send({"type": "http.response.pathsend", "path": name})
    except OSError as exc:
        logger.warning("flood send raised %s", type(exc).__name__)
    finally:
        os.unlink(name)
    logger.warning("flood receive gave %s", (await receive())["type"])


async def crash(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"partial", "more_body": True})
    raise RuntimeError("boom (expected by the test)")


ROUTES = {
    "echo": echo,
    "scope": scope_echo,
    "big": big,
    "upload_watch": upload_watch,
    "hold": hold,
    "counted": counted,
    "count": count,
    "slow": slow,
    "stall": stall,
    "trailers": trailers,
    "push": push,
    "style.css": style,
    "pathsend": pathsend,
    "zerocopy": zerocopy,
    "crash": crash,
    "flood": flood,
    "pathflood": pathflood,
}
