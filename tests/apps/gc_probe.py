"""An app that reports what the cyclic garbage collector found, to test that serving leaves none.

At lifespan startup it sets ``gc.DEBUG_SAVEALL``: from then on every object a collection
(automatic or not) finds unreachable is kept in ``gc.garbage`` instead of being freed, so
nothing escapes the count. ``GET /gc`` runs ``gc.collect()`` and answers with JSON
``{"found": N, "types": {"TypeName": count, ...}}`` for everything found since the
previous ``/gc``, then forgets it. ``GET /error`` raises inside the app (a 500);
``POST`` bodies are read to the end; any other path answers ``hello``. A WebSocket
echoes text until the client closes.
"""

from __future__ import annotations

import collections
import gc
import json


def _collect() -> dict[str, object]:
    gc.collect()
    types = collections.Counter(_name(obj) for obj in gc.garbage)
    # Free what was found, or it would be found again next time: the saved objects are
    # still cycles once the list lets go of them.
    gc.garbage.clear()
    gc.set_debug(0)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    return {"found": sum(types.values()), "types": dict(types.most_common(40))}


def _name(obj: object) -> str:
    kind = type(obj)
    if kind is type:
        return f"class {obj.__module__}.{obj.__qualname__}"  # type: ignore[attr-defined]
    return f"{kind.__module__}.{kind.__qualname__}"


async def app(scope, receive, send):
    kind = scope["type"]
    if kind == "lifespan":
        await _lifespan(receive, send)
    elif kind == "websocket":
        await _echo(receive, send)
    else:
        await _http(scope, receive, send)


async def _lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            gc.set_debug(gc.DEBUG_SAVEALL)
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _http(scope, receive, send):
    path = scope["path"]
    if path == "/error":
        raise RuntimeError("the probe app fails on purpose")
    if scope["method"] == "POST":
        while (await receive()).get("more_body"):
            pass
    body = json.dumps(_collect()).encode() if path == "/gc" else b"hello"
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
