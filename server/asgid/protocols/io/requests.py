"""What both HTTP wires do per request: start its ASGI cycle and app, end it, log it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from asgid.asgi.http import HTTPCycle, HTTPWire
from asgid.asgi.scope import build_http_scope

if TYPE_CHECKING:
    from asgid.asgi.instance import HTTPInstance
    from asgid.asgi.scope import ConnectionInfo
    from asgid.events import Request
    from asgid.protocols.io.context import ServerContext


def new_cycle(
    ctx: ServerContext, request: Request, conn: ConnectionInfo, wire: HTTPWire
) -> HTTPCycle:
    """The request's scope and the cycle its wire feeds; the app starts with an
    ``HTTPInstance`` (HTTP/1.1 starts a pipelined request's app only once the one before
    it is answered)."""
    scope = build_http_scope(request, conn, ctx.config, ctx.state)
    return HTTPCycle(scope, wire, request.stream_id, ctx.loop, ctx.config.send_timeout_s)


def client_gone(ctx: ServerContext, cycle: HTTPCycle, instance: HTTPInstance | None) -> None:
    """The client left: ``http.disconnect``, and the app gets ``--application-close-timeout``
    to notice before it is cancelled."""
    if instance is not None:
        instance.client_gone(ctx.reactor, ctx.config.application_close_timeout_s)
    else:
        cycle.disconnect()


def log_access(
    ctx: ServerContext, cycle: HTTPCycle, status: int, size: int, started_at: float
) -> None:
    """One access-log line (``--access-log``) for a response that ended or was cut short;
    ``started_at`` is the ``time.monotonic()`` when its app started."""
    access = ctx.access_log
    if access is not None:
        access.http(cycle.scope, status, size, time.monotonic() - started_at)
