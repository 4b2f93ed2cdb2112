"""An app that answers which packages its process has imported, and echoes WebSocket text.

``GET /`` answers the top-level names in ``sys.modules`` as a JSON list, so a test can
see what a real server process loaded for the traffic it served so far.
"""

from __future__ import annotations

import json
import sys

from tests.apps.ws import echo  # stdlib imports only: the module list stays the server's


async def app(scope, receive, send):
    if scope["type"] == "http":
        names = sorted({name.split(".")[0] for name, module in sys.modules.items() if module})
        body = json.dumps(names).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
    else:
        await echo(scope, receive, send)
