"""An app that reports what the cyclic garbage collector finds, to test the server leaves no cycles.

``GET /gc`` runs ``gc.collect()`` with ``DEBUG_SAVEALL`` and answers with JSON:
``{"found": N, "types": {"TypeName": count, ...}}`` where ``found`` counts the objects
that only the cyclic collector could have freed since the previous ``/gc``. Every other
HTTP path answers ``hello``; a WebSocket echoes text until the client closes.
"""

from __future__ import annotations

import collections
import gc
import json


def _collect() -> dict[str, object]:
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        garbage = list(gc.garbage)
        gc.garbage.clear()
    finally:
        gc.set_debug(0)
    types = collections.Counter(type(obj).__qualname__ for obj in garbage)
    return {"found": len(garbage), "types": dict(types.most_common(40))}


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":
        await _echo(receive, send)
        return
    body = json.dumps(_collect()).encode() if scope["path"] == "/gc" else b"hello"
    if scope["method"] == "POST":
        while (await receive()).get("more_body"):
            pass
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _echo(receive, send):
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif message["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message.get("text") or ""})
        else:
            return
