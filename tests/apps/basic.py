"""Tiny named ASGI apps used by the HTTP tests."""

from __future__ import annotations

import json


async def hello(scope, receive, send):
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"Hello, world!"})


def jsonable(value):
    """A scope as JSON can hold it: bytes become latin-1 strings, tuples lists."""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


async def scope_echo(scope, receive, send):
    """Answer with the scope as JSON (bytes as latin-1 strings)."""
    if scope["type"] != "http":
        return
    body = json.dumps(jsonable(dict(scope))).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})
