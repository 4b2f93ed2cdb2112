"""The way into the WebSocket wire: Autobahn is imported at the first upgrade, not at start-up.

Why lazily: importing ``autobahn.twisted`` pulls in WAMP, CBOR, Twisted's endpoint module
and the whole TLS stack (pyOpenSSL, cryptography): about 20 MB of RSS and a third of
asgid's start-up, in every worker, for servers that may never see a WebSocket.

The trade on the Autobahn internals check (docs/security.md): asgid reads and overrides
Autobahn members below its public API, checked by ``autobahn.check_autobahn_internals``.
At start-up only the installed version is compared with the range pyproject.toml names
(the releases the test suite ran against); outside that range, or with no version
recorded, the full member check runs at once and refuses to start as before. Inside it,
the full check runs when Autobahn is first imported, before any connection reaches it:
should it fail there, every WebSocket upgrade is answered 500 and the error is logged
once, naming the member; no byte is ever framed by an Autobahn asgid does not fit.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
from typing import TYPE_CHECKING, Any

from asgid.errors import ConfigError
from asgid.events import Response

if TYPE_CHECKING:
    from asgid.asgi.scope import ConnectionInfo
    from asgid.events import Request
    from asgid.protocols.io.context import ServerContext
    from asgid.protocols.websocket.connection import WebSocketConnection

logger = logging.getLogger(__name__)

# pyproject.toml's bound on autobahn (tests/test_lazy_imports.py keeps them equal).
TESTED_AUTOBAHN = ((26, 10), (27,))  # lowest accepted, first refused


def check_autobahn_at_start_up() -> None:
    """The start-up half of the internals check: cheap inside the tested range.

    Raises ``ConfigError`` naming the member when an untested Autobahn lacks one.
    """
    if not _tested_version(_installed_version()):
        check_autobahn_now()


def check_autobahn_now() -> None:
    """Import Autobahn and run the full member check (raises ``ConfigError``)."""
    failure = _load()
    if isinstance(failure, str):
        raise ConfigError(failure)


def open_websocket(
    ctx: ServerContext, request: Request, head: bytes, conn: ConnectionInfo
) -> WebSocketConnection | Response:
    """``websocket.connection.open_websocket``, or a 500 answer if Autobahn cannot serve."""
    opener = _load()
    if isinstance(opener, str):
        return _refusal(opener)
    result: WebSocketConnection | Response = opener(ctx, request, head, conn)
    return result


def _refusal(failure: str) -> Response:
    _report(failure)
    body = b"Internal Server Error: WebSockets are unavailable (see the server log)"
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    return Response(0, 500, headers, body, end_stream=True)


@functools.cache
def _report(failure: str) -> None:
    logger.error("WebSocket upgrades are answered 500: %s", failure)  # once, not per upgrade


@functools.cache
def _load() -> Any:
    """The opener once Autobahn is imported and checked; else why not."""
    try:
        from asgid.protocols.websocket.autobahn import check_autobahn_internals
        from asgid.protocols.websocket.connection import open_websocket as opener

        check_autobahn_internals()
    except ConfigError as exc:
        failure = str(exc)
    except (ImportError, AttributeError) as exc:
        failure = (
            f"autobahn {_installed_version() or '(version unknown)'} cannot be imported the "
            f"way asgid uses it ({exc}): install the autobahn version range that asgid's "
            "pyproject.toml names"
        )
    else:
        return opener
    return failure


def _installed_version() -> str | None:
    """Autobahn's version as its ``.dist-info`` directory names it (the wheel standard).

    Found the way ``importlib.metadata`` looks (the first ``sys.path`` entry that has one),
    without importing it: that import alone is a few per cent of asgid's start-up. None
    when not found or ambiguous, which leads to the full check.
    """
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        found = [n for n in names if n.startswith("autobahn-") and n.endswith(".dist-info")]
        if found:
            return found[0][len("autobahn-") : -len(".dist-info")] if len(found) == 1 else None
    return None


def _tested_version(text: str | None) -> bool:
    """Whether ``text`` (e.g. ``26.10.2``) lies in ``TESTED_AUTOBAHN``; False if unreadable."""
    numbers = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?$", text or "")
    if numbers is None:  # a pre-release, a local build: not what the tests ran against
        return False
    found = tuple(int(n) for n in numbers.groups(default="0"))
    lowest, refused = TESTED_AUTOBAHN
    return lowest <= found < refused
