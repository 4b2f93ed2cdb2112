"""Tiny named ASGI apps for the CLI, endpoint, lifespan and shutdown tests.

Lifespan apps print one marker line per phase (stdout is captured by ``AsgidProcess``)
so tests can see what ran and in which order.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from urllib.parse import parse_qs


async def _respond(send, body: bytes, status: int = 200, content_type: bytes = b"text/plain"):
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _query(scope) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}


async def _lifespan(receive, send, on_startup) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await on_startup()
            print("MARK lifespan startup", flush=True)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            print("MARK lifespan shutdown", flush=True)
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    """Lifespan-aware app: /slow?s=N answers after N seconds, /state shows the scope state,
    /client shows scope["client"], /threads?n=N runs N blocking calls in the default executor."""
    if scope["type"] == "lifespan":

        async def startup() -> None:
            scope["state"]["db"] = "connected"
            scope["state"]["started_at"] = time.time()

        await _lifespan(receive, send, startup)
        return
    if scope["type"] == "websocket":
        await _echo_websocket(receive, send)
        return
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/slow":
        seconds = float(_query(scope).get("s", "1"))
        print(f"MARK slow start {seconds}", flush=True)
        await asyncio.sleep(seconds)
        await _respond(send, b"slow done")
    elif path == "/state":
        state = scope.get("state", {})
        body = json.dumps(sorted(state)).encode()
        state["mutated_by_request"] = True  # must not leak into later scopes (shallow copy)
        await _respond(send, body, content_type=b"application/json")
    elif path == "/client":
        body = json.dumps({"client": scope.get("client"), "scheme": scope["scheme"]})
        await _respond(send, body.encode(), content_type=b"application/json")
    elif path == "/pid":
        await _respond(send, str(os.getpid()).encode())
    elif path == "/block":
        # Blocks this worker's event loop, so another worker must accept the next connection.
        print(f"MARK blocking {os.getpid()}", flush=True)
        time.sleep(float(_query(scope).get("s", "1")))
        await _respond(send, str(os.getpid()).encode())
    elif path == "/threads":
        await _respond(send, json.dumps(await _threads(int(_query(scope)["n"]))).encode())
    else:
        await _respond(send, b"ok")


async def _echo_websocket(receive, send) -> None:
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            print(f"MARK websocket closed {message.get('code')}", flush=True)
            return
        await send({"type": "websocket.send", "text": message.get("text") or ""})


async def _threads(n: int) -> dict[str, int]:
    """Run ``n`` blocking calls at once in the loop's default executor; report peak overlap."""
    lock = threading.Lock()
    running = 0
    peak = 0
    names: set[str] = set()

    def block() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            names.add(threading.current_thread().name)
        time.sleep(0.3)
        with lock:
            running -= 1

    loop = asyncio.get_running_loop()
    await asyncio.gather(*(loop.run_in_executor(None, block) for _ in range(n)))
    return {"peak": peak, "threads": len(names)}


async def startup_fails(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "database unreachable"})
        return
    await _respond(send, b"should never serve")


async def startup_raises(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        raise RuntimeError("cache server refused the connection")
    await _respond(send, b"ok")


async def django_like(scope, receive, send):
    """Like Django's ASGIHandler: anything but http is an error."""
    if scope["type"] != "http":
        raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
    await _respond(send, b"ok")


async def stuck(scope, receive, send):
    """Never answers /stuck (for the graceful timeout); anything else is fine."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send, _nothing)
        return
    if scope["path"] == "/stuck":
        print("MARK stuck start", flush=True)
        await asyncio.Event().wait()
    await _respond(send, b"ok")


async def _nothing() -> None:
    return None


def make_app():
    """For --factory."""
    return app


def broken_factory():
    raise RuntimeError("settings module missing")


not_callable = 42


async def slow_startup(scope, receive, send):
    """Startup that never finishes (a database that does not answer)."""
    if scope["type"] == "lifespan":
        await receive()
        print("MARK startup hangs", flush=True)
        await asyncio.Event().wait()
    await _respond(send, b"ok")


async def crashes_soon(scope, receive, send):
    """Each worker dies (exit 1) a moment after it is ready: a crash loop."""
    if scope["type"] == "lifespan":

        async def startup() -> None:
            asyncio.get_running_loop().call_later(0.2, os._exit, 1)

        await _lifespan(receive, send, startup)
        return
    await _respond(send, b"ok")


async def raises(scope, receive, send):
    """/boom raises inside the app (asgid_app_exceptions_total); anything else is ok."""
    if scope["type"] == "http" and scope["path"] == "/boom":
        raise RuntimeError("boom")
    await app(scope, receive, send)
