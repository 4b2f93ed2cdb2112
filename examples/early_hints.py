"""103 Early Hints: tell the browser what to preload while the page is still being made.

asgid examples.early_hints:app
curl -si http://127.0.0.1:8000/        # shows HTTP/1.1 103 Early Hints, then 200 OK
"""

import asyncio

PAGE = b'<!doctype html><link rel="stylesheet" href="/style.css"><p>Hello</p>\n'


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if "http.response.early_hint" in scope["extensions"]:
        await send(
            {"type": "http.response.early_hint", "links": [b"</style.css>; rel=preload; as=style"]}
        )
    await asyncio.sleep(0.1)  # the slow part (database, templates) the hint overlaps with
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/html; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": PAGE})
