"""``tests.apps.modules:app`` in a process whose Autobahn lacks a member asgid overrides.

Importing this module removes ``sendFrame`` from Autobahn's protocol class, as a future
Autobahn release inside the accepted version range might: the start-up check (version
only) passes, the full member check at the first WebSocket must refuse.
"""

from __future__ import annotations

from autobahn.websocket.protocol import WebSocketProtocol

from tests.apps.modules import app

del WebSocketProtocol.sendFrame

__all__ = ["app"]
