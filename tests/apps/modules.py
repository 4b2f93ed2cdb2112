"""An app that answers which packages its process has imported, and echoes WebSocket text.

``GET /`` answers the top-level names in ``sys.modules`` as a JSON list, so a test can
see what a real server process loaded for the traffic it served so far.
"""

from __future__ import annotations

import json
import sys


async def app(scope, receive, send):
    if scope["type"] == "http":
        names = sorted({name.split(".")[0] for name, module in sys.modules.items() if module})
        body = json.dumps(names).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
    elif scope["type"] == "websocket":
        while True:
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
            elif message["type"] == "websocket.receive":
                await send({"type": "websocket.send", "text": message.get("text") or ""})
            else:
                return
