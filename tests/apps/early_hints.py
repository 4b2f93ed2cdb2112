"""Test app for 103 Early Hints: hints first, then the response; the scope's extensions echoed."""

from __future__ import annotations

import json

LINKS = [b"</style.css>; rel=preload; as=style", b"</app.js>; rel=preload; as=script"]


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    advertised = "http.response.early_hint" in scope["extensions"]
    if scope["path"] == "/bad":
        await send({"type": "http.response.early_hint", "links": "</a.css>; rel=preload"})
    # Sent whatever the scope says: where a hint cannot go out it is dropped, not an error.
    await send({"type": "http.response.early_hint", "links": LINKS})
    if scope["path"] == "/twice":
        await send({"type": "http.response.early_hint", "links": [b"</font.woff2>; rel=preload"]})
    if scope["path"].startswith("/late"):
        await late_hint(scope, send)
        return
    body = json.dumps({"advertised": advertised, "http_version": scope["http_version"]})
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"link", b"</style.css>; rel=preload; as=style"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})


async def late_hint(scope, send):
    """A hint after ``http.response.start``: /late-caught reports the error in its body."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    try:
        await send({"type": "http.response.early_hint", "links": [b"</late.css>; rel=preload"]})
    except Exception as exc:
        if scope["path"] != "/late-caught":
            raise
        await send({"type": "http.response.body", "body": f"{type(exc).__name__}: {exc}".encode()})
