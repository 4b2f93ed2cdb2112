"""A small Starlette application with one HTTP route and one WebSocket route.

asgid -b 127.0.0.1 -p 8000 examples.starlette_app:app
curl http://127.0.0.1:8000/hello/world
python -m websockets ws://127.0.0.1:8000/ws/echo      (type a line, get it back)
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

logger = logging.getLogger(__name__)


async def hello(request: Request) -> JSONResponse:
    name = request.path_params.get("name", "world")
    return JSONResponse(
        {
            "hello": name,
            "http_version": request.scope.get("http_version"),
            "visits": _count(request),
        }
    )


def _count(request: Request) -> int:
    # Lifespan state: set once at startup, shared by every request of this process.
    state = request.state
    state.visits[0] += 1
    return int(state.visits[0])


async def echo(websocket: WebSocket) -> None:
    """Echo every text message back, upper-cased so a client can tell it went round-trip."""
    await websocket.accept()
    try:
        while True:
            text = await websocket.receive_text()
            await websocket.send_text(text.upper())
    except WebSocketDisconnect as exc:
        logger.info("echo client left with code %s", exc.code)


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, list[int]]]:
    logger.info("starlette example starting")
    yield {"visits": [0]}
    logger.info("starlette example stopped")


app = Starlette(
    routes=[
        Route("/", hello),
        Route("/hello/{name}", hello),
        WebSocketRoute("/ws/echo", echo),
    ],
    lifespan=lifespan,
)
