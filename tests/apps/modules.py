"""An app that answers which packages its process has imported, and echoes WebSocket text.

``GET /`` answers the top-level names in ``sys.modules`` as a JSON list (``GET /?all``:
every module name), so a test can see what a real server process loaded for the traffic
it served so far. A module entered lazily (``asgid/lazy_modules.py``) but not yet run is
left out.
"""

from __future__ import annotations

import json
import sys

from tests.apps.ws import echo  # stdlib imports only: the module list stays the server's


def _has_run(module):
    # A lazy module that has not run yet still has LazyLoader's own class.
    return type(module).__name__ != "_LazyModule"


async def app(scope, receive, send):
    if scope["type"] == "http":
        run = [name for name, module in sys.modules.items() if module and _has_run(module)]
        full = scope["query_string"] == b"all"
        names = sorted(set(run if full else (name.split(".")[0] for name in run)))
        body = json.dumps(names).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
    else:
        await echo(scope, receive, send)
