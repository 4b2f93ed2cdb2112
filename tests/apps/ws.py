"""Tiny named ASGI apps used by the WebSocket tests (each one path of the protocol)."""

from __future__ import annotations

import asyncio
import json
import os
from urllib.parse import unquote


async def echo(scope, receive, send):
    """Accept, then send back every message as it came (text as text, bytes as bytes)."""
    if scope["type"] != "websocket":
        return
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif kind == "websocket.receive":
            if message.get("bytes") is not None:
                await send({"type": "websocket.send", "bytes": message["bytes"]})
            else:
                await send({"type": "websocket.send", "text": message["text"]})
        else:
            return


async def by_path(scope, receive, send):
    """Behaviour chosen by the path, so one server process serves many tests."""
    if scope["type"] != "websocket":
        return
    handler = _HANDLERS.get(scope["path"].strip("/").split("/")[0], echo)
    await handler(scope, receive, send)


async def _reject(scope, receive, send):
    await receive()
    await send({"type": "websocket.close"})


async def _deny(scope, receive, send):
    await receive()
    await send(
        {
            "type": "websocket.http.response.start",
            "status": 401,
            "headers": [(b"content-type", b"text/plain"), (b"x-why", b"no-token")],
        }
    )
    await send({"type": "websocket.http.response.body", "body": b"need ", "more_body": True})
    await send({"type": "websocket.http.response.body", "body": b"a token"})


async def _subprotocol(scope, receive, send):
    await receive()
    chosen = scope["subprotocols"][-1] if scope["subprotocols"] else None
    await send(
        {"type": "websocket.accept", "subprotocol": chosen, "headers": [(b"x-extra", b"yes")]}
    )
    await send({"type": "websocket.send", "text": json.dumps(scope["subprotocols"])})
    await receive()


async def _scope(scope, receive, send):
    await receive()
    await send({"type": "websocket.accept"})
    shown = {
        key: (value.decode("latin-1") if isinstance(value, bytes) else value)
        for key, value in scope.items()
        if key not in ("headers", "state", "extensions")
    }
    shown["extensions"] = sorted(scope["extensions"])
    await send({"type": "websocket.send", "text": json.dumps(shown)})
    await receive()


async def _close(scope, receive, send):
    """Accept, then close with the code and reason given in the query string (code;reason)."""
    await receive()
    await send({"type": "websocket.accept"})
    code, _, reason = unquote(scope["query_string"].decode()).partition(";")
    await send({"type": "websocket.close", "code": int(code or 1000), "reason": reason})
    message = await receive()
    # A send after close must raise, not hang.
    try:
        await send({"type": "websocket.send", "text": "too late"})
    except OSError as exc:
        print("SEND-AFTER-CLOSE", type(exc).__name__, message, flush=True)


async def _record(scope, receive, send):
    """Print what the client's close said; tests read it from the server output."""
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            reason = repr(message.get("reason"))
            print("DISCONNECT", scope["path"], message["code"], reason, flush=True)
            return


async def _empty(scope, receive, send):
    await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": ""})
    await send({"type": "websocket.send", "bytes": b""})
    await receive()


async def _crash(scope, receive, send):
    await receive()
    if scope["query_string"] == b"after":
        await send({"type": "websocket.accept"})
    raise RuntimeError("boom")


async def _silent(scope, receive, send):
    await receive()
    await asyncio.sleep(3600)


async def _firehose(scope, receive, send):
    """Send 64 KiB messages as fast as send() lets it; report the count when stopped."""
    await receive()
    await send({"type": "websocket.accept"})
    chunk = os.urandom(64 * 1024)
    sent = 0
    try:
        while True:
            await send({"type": "websocket.send", "bytes": chunk})
            sent += 1
    except OSError:
        print("FIREHOSE-STOPPED", sent, flush=True)


async def _lagging(scope, receive, send):
    """Accept, then do not read for a while (the client floods it)."""
    await receive()
    await send({"type": "websocket.accept"})
    await asyncio.sleep(float(scope["query_string"] or b"2"))
    count = 0
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        count += 1
        if message.get("text") == "done":
            await send({"type": "websocket.send", "text": str(count)})


_HANDLERS = {
    "reject": _reject,
    "deny": _deny,
    "subprotocol": _subprotocol,
    "scope": _scope,
    "close": _close,
    "record": _record,
    "empty": _empty,
    "crash": _crash,
    "silent": _silent,
    "firehose": _firehose,
    "lagging": _lagging,
}


def starlette_app():
    """A Starlette WebSocket endpoint (built on call so importing this module stays cheap)."""
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        if text == "leave":
            await websocket.close(code=1008, reason="policy")
            return
        await websocket.send_text(text.upper())
        await websocket.close()

    return Starlette(routes=[WebSocketRoute("/ws", endpoint)])
