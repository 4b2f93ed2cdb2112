"""The classic raw ASGI hello world.

asgid -e tcp:8000 examples.hello:app
curl http://127.0.0.1:8000/
"""


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": b"Hello, world!\n"})
