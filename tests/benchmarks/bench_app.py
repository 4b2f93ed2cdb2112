"""The raw ASGI app every server runs in the benchmarks (no framework, so servers are compared).

Routes:

* ``GET /``: ``Hello, world!`` (the hello-world workloads, start-up probe);
* ``POST /echo``: the request body back, with its length;
* ``GET /stream?mib=N``: N MiB (default 100) streamed in 1 MiB body messages;
* ``GET /file``: the file named by ``BENCH_FILE`` through ``http.response.pathsend`` when
  the server offers it (answer header ``x-pathsend: 1``), else read and sent in 1 MiB
  messages (``x-pathsend: 0``);
* WebSocket: echo of every text or binary message.
"""

from __future__ import annotations

import os

MIB = 1024 * 1024
CHUNK = b"x" * MIB
HELLO = b"Hello, world!"


async def app(scope, receive, send):
    kind = scope["type"]
    if kind == "http":
        await _http(scope, receive, send)
    elif kind == "websocket":
        await _websocket(receive, send)
    elif kind == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _http(scope, receive, send):
    path = scope["path"]
    if path == "/echo":
        await _echo(receive, send)
    elif path == "/stream":
        query = scope["query_string"]
        mib = int(query.split(b"=", 1)[1]) if query.startswith(b"mib=") else 100
        await _start(send, 200, [(b"content-length", b"%d" % (mib * MIB))])
        for index in range(mib):
            await send({"type": "http.response.body", "body": CHUNK, "more_body": index < mib - 1})
    elif path == "/file":
        await _file(scope, send)
    else:
        await _start(send, 200, [(b"content-type", b"text/plain")])
        await send({"type": "http.response.body", "body": HELLO})


async def _start(send, status, headers):
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def _echo(receive, send):
    parts = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = b"".join(parts)
    headers = [(b"content-type", b"application/octet-stream")]
    await _start(send, 200, headers + [(b"content-length", b"%d" % len(body))])
    await send({"type": "http.response.body", "body": body})


async def _file(scope, send):
    path = os.environ["BENCH_FILE"]
    size = os.path.getsize(path)
    pathsend = "http.response.pathsend" in scope.get("extensions", {})
    headers = [(b"content-length", b"%d" % size), (b"x-pathsend", b"1" if pathsend else b"0")]
    await _start(send, 200, headers)
    if pathsend:
        await send({"type": "http.response.pathsend", "path": path})
        return
    with open(path, "rb") as file:
        while True:
            chunk = file.read(MIB)
            more = file.tell() < size
            await send({"type": "http.response.body", "body": chunk, "more_body": more})
            if not more:
                return


async def _websocket(receive, send):
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif kind == "websocket.receive":
            if message.get("text") is not None:
                await send({"type": "websocket.send", "text": message["text"]})
            else:
                await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})
        else:
            return
