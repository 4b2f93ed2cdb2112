"""Send a file with the ``http.response.pathsend`` extension (zero copy over plain TCP).

asgid -e tcp:8000 examples.send_file:app
curl -s -o copy http://127.0.0.1:8000/ && cmp copy examples/send_file.py
"""

import os

PATH = os.path.abspath(__file__)


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    size = os.path.getsize(PATH)
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % size)]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    if "http.response.pathsend" in scope.get("extensions", {}):
        await send({"type": "http.response.pathsend", "path": PATH})
    else:  # servers without the extension
        with open(PATH, "rb") as file:
            await send({"type": "http.response.body", "body": file.read()})
