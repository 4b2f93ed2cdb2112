"""One ASGI app for the HTTP/1.1 tests: the path picks the behaviour (see ``ROUTES``).

Apps log a line on the ``tests.app`` logger (WARNING, so it shows at the default
verbosity) when a test needs to wait for something that happens inside the server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from urllib.parse import parse_qs

from tests.apps.basic import jsonable

log = logging.getLogger("tests.app")
CHUNK = b"x" * 65536
PATTERN = bytes(range(251))  # a prime length: a shifted or repeated piece shows


def _query(scope) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}


async def _respond(send, status=200, body=b"", headers=()):
    await send({"type": "http.response.start", "status": status, "headers": list(headers)})
    await send({"type": "http.response.body", "body": body})


async def _read_all(receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise OSError("client went away")
        parts.append(message["body"])
        if not message.get("more_body"):
            return b"".join(parts)


async def scope_echo(scope, receive, send):
    body = json.dumps(jsonable(dict(scope))).encode()
    for value in scope.get("extensions", {}).values():
        value["written by"] = scope["path"]  # what a later scope must not see
    await _respond(send, body=body, headers=[(b"content-type", b"application/json")])


async def path(scope, receive, send):
    """Answer with the path, after an optional ``?delay=`` (to test pipelining order)."""
    delay = float(_query(scope).get("delay", "0"))
    if delay:
        await asyncio.sleep(delay)
    await _respond(send, body=scope["path"].encode())


async def echo(scope, receive, send):
    body = await _read_all(receive)
    await _respond(send, body=body)


async def echo_stream(scope, receive, send):
    """Echo each request chunk as a response chunk (no Content-Length: chunked out)."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    while True:
        message = await receive()
        more = message.get("more_body", False)
        await send(
            {"type": "http.response.body", "body": message.get("body", b""), "more_body": more}
        )
        if not more:
            return


async def count(scope, receive, send):
    """Count the body without keeping it (upload memory test); ``?pace=`` slows each read."""
    pace = float(_query(scope).get("pace", "0"))
    total = chunks = biggest = 0
    while True:
        if pace:
            await asyncio.sleep(pace)
        message = await receive()
        body = message.get("body", b"")
        total += len(body)
        chunks += 1
        biggest = max(biggest, len(body))
        if not message.get("more_body"):
            break
    await _respond(
        send, body=json.dumps({"bytes": total, "chunks": chunks, "biggest": biggest}).encode()
    )


async def stream(scope, receive, send):
    """``?size=`` bytes in 64 KiB chunks, as fast as send() lets us (backpressure test)."""
    size = int(_query(scope).get("size", "1048576"))
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(size).encode())],
        }
    )
    sent = 0
    while sent < size:
        piece = CHUNK[: size - sent]
        await send({"type": "http.response.body", "body": piece, "more_body": True})
        sent += len(piece)
    await send({"type": "http.response.body", "body": b""})


async def pattern(scope, receive, send):
    """``?size=`` bytes of ``PATTERN`` in ``?chunk=``-byte body messages, under Content-Length
    with ``?length=1``, else chunked: order and framing of big response chunks."""
    query = _query(scope)
    size = int(query.get("size", "1048576"))
    chunk = int(query.get("chunk", "65536"))
    body = (PATTERN * (size // len(PATTERN) + 1))[:size]
    headers = [(b"content-length", str(size).encode())] if query.get("length") else []
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for start in range(0, size, chunk):
        more = start + chunk < size
        piece = body[start : start + chunk]
        await send({"type": "http.response.body", "body": piece, "more_body": more})


async def head(scope, receive, send):
    await _respond(send, body=b"hello", headers=[(b"content-length", b"5")])


async def head_streamed(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"part1", "more_body": True})
    await send({"type": "http.response.body", "body": b"part2"})


async def no_read(scope, receive, send):
    await _respond(send, body=b"not reading your body")


async def continue_(scope, receive, send):
    """Wait for the file named by ``?gate=`` before reading the body (100-continue test)."""
    gate = _query(scope)["gate"]
    log.warning("app waiting before receive")
    while not os.path.exists(gate):
        await asyncio.sleep(0.01)
    body = await _read_all(receive)
    await _respond(send, body=b"got %d" % len(body))


async def error_before(scope, receive, send):
    raise RuntimeError("boom before start")


async def error_after(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"partial", "more_body": True})
    raise RuntimeError("boom after start")


async def error_after_complete(scope, receive, send):
    await _respond(send, body=b"done")
    raise RuntimeError("boom after complete")


async def no_response(scope, receive, send):
    return None


async def no_end(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"partial", "more_body": True})


BAD = {
    "wrong-type": [{"type": "http.response.bogus"}],
    "body-first": [{"type": "http.response.body", "body": b"x"}],
    "str-body": [
        {"type": "http.response.start", "status": 200},
        {"type": "http.response.body", "body": "text"},
    ],
    "str-headers": [{"type": "http.response.start", "status": 200, "headers": [("a", "b")]}],
    "status-str": [{"type": "http.response.start", "status": "200"}],
    "newline-header": [
        {"type": "http.response.start", "status": 200, "headers": [(b"a", b"b\r\nc: d")]}
    ],
    "bad-length": [
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"x")]}
    ],
    "start-twice": [
        {"type": "http.response.start", "status": 200},
        {"type": "http.response.start", "status": 200},
    ],
    "streaming-str": [
        {"type": "http.response.start", "status": 200},
        {"type": "http.response.body", "body": b"ok", "more_body": True},
        {"type": "http.response.body", "body": "text"},
    ],
    "after-complete": [
        {"type": "http.response.start", "status": 200},
        {"type": "http.response.body", "body": b"ok"},
        {"type": "http.response.body", "body": b"more"},
    ],
}


async def bad(scope, receive, send):
    for message in BAD[scope["path"].rsplit("/", 1)[1]]:
        await send(message)


async def long_length(scope, receive, send):
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"3")]}
    )
    await send({"type": "http.response.body", "body": b"toolong", "more_body": True})
    await send({"type": "http.response.body", "body": b"and more"})


async def short_length(scope, receive, send):
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]}
    )
    await send({"type": "http.response.body", "body": b"short"})


async def slow(scope, receive, send):
    await asyncio.sleep(float(_query(scope).get("seconds", "5")))
    await _respond(send, body=b"slow")


async def conn_close(scope, receive, send):
    await _respond(send, body=b"bye", headers=[(b"connection", b"close")])


async def sse(scope, receive, send):
    """Server-Sent Events until the client leaves; logs how it ended."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream")],
        }
    )
    disconnected = asyncio.Event()

    async def watch():
        while (await receive())["type"] != "http.disconnect":
            pass
        disconnected.set()

    watcher = asyncio.ensure_future(watch())
    number = 0
    try:
        while not disconnected.is_set():
            await send(
                {"type": "http.response.body", "body": b"data: %d\n\n" % number, "more_body": True}
            )
            number += 1
            try:
                await asyncio.wait_for(disconnected.wait(), 0.02)
            except asyncio.TimeoutError:
                pass
        log.warning("sse: disconnect received")
    except OSError:
        log.warning("sse: send failed after disconnect")
    finally:
        watcher.cancel()


async def wait_disconnect(scope, receive, send):
    log.warning("waiting for disconnect %s", scope["path"])
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            log.warning("disconnect delivered %s", scope["path"])
            return


async def ignore_disconnect(scope, receive, send):
    log.warning("ignoring disconnect")
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        log.warning("cancelled after disconnect")
        raise


async def receive_after_response(scope, receive, send):
    await _respond(send, body=b"done")
    message = await asyncio.wait_for(receive(), 5)
    log.warning("after response receive() gave %s", message["type"])


ROUTES = {
    "/scope": scope_echo,
    "/echo": echo,
    "/echo-stream": echo_stream,
    "/count": count,
    "/stream": stream,
    "/pattern": pattern,
    "/head": head,
    "/head-streamed": head_streamed,
    "/no-read": no_read,
    "/continue": continue_,
    "/error-before": error_before,
    "/error-after": error_after,
    "/error-after-complete": error_after_complete,
    "/no-response": no_response,
    "/no-end": no_end,
    "/long-length": long_length,
    "/short-length": short_length,
    "/slow": slow,
    "/conn-close": conn_close,
    "/sse": sse,
    "/wait-disconnect": wait_disconnect,
    "/ignore-disconnect": ignore_disconnect,
    "/receive-after-response": receive_after_response,
}


async def lifespan(scope, receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if "state" in scope:
                scope["state"]["greeting"] = "hello from lifespan"
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await lifespan(scope, receive, send)
        return
    if scope["type"] != "http":
        return
    route = scope["path"][len(scope["root_path"]) :] or "/"
    if route.startswith("/scope"):
        handler = ROUTES["/scope"]
    elif route.startswith("/bad/"):
        handler = bad
    elif route.startswith("/wait-disconnect"):
        handler = wait_disconnect
    else:
        handler = ROUTES.get(route, path)
    await handler(scope, receive, send)
