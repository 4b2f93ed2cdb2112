"""File bodies over ``http.response.pathsend``, for the HTTP/1.1 sendfile tests.

``GET /<size>`` answers with a file of ``size`` bytes (pattern ``bytes(range(256))``),
with ``content-length`` unless the query is ``chunked``; ``/short`` announces more bytes
than its file holds.
"""

from __future__ import annotations

import os
import tempfile

PATTERN = bytes(range(256))


def make_file(size: int) -> str:
    fd, name = tempfile.mkstemp(prefix="asgid-file-test-")
    with os.fdopen(fd, "wb") as file:
        file.write((PATTERN * (size // 256 + 1))[:size])
    return name


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    name = scope["path"].strip("/")
    size = 1000 if name == "short" else int(name)
    path = make_file(size)
    try:
        headers = []
        if name == "short":
            headers.append((b"content-length", b"2000"))
        elif scope["query_string"] != b"chunked":
            headers.append((b"content-length", b"%d" % size))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.pathsend", "path": path})
    finally:
        os.unlink(path)
