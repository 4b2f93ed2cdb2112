"""Autobahn's per-server options (one factory per server) and small checks around it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept

from asgid.errors import ProtocolError

if TYPE_CHECKING:
    from asgid.config import Config
    from asgid.protocols.io.context import ServerContext

# RFC 6455 §7.4: codes a peer may send (Autobahn's list) plus the 3000-4999 ranges.
_ALLOWED_CLOSE_CODES = frozenset(WebSocketServerProtocol.CLOSE_STATUS_CODES_ALLOWED)


def autobahn_factory(ctx: ServerContext) -> Any:
    """Autobahn's per-server options object (built once per server)."""
    if ctx.websocket_factory is None:
        ctx.websocket_factory = _build_factory(ctx.config, ctx.reactor)
    return ctx.websocket_factory


def _build_factory(config: Config, reactor: Any) -> Any:
    factory = WebSocketServerFactory(  # type: ignore[no-untyped-call]
        server=config.server_name or None, reactor=reactor
    )
    accept = _deflate_acceptor(config.websocket_max_message_bytes)
    factory.setProtocolOptions(  # type: ignore[no-untyped-call]
        maxMessagePayloadSize=config.websocket_max_message_bytes,
        maxFramePayloadSize=config.websocket_max_frame_bytes,
        # The app's answer is timed by us (--websocket_connect_timeout); the head is
        # already complete when Autobahn sees it.
        openHandshakeTimeout=0,
        # Autobahn schedules this on txaio's batched timer, whose whole-second buckets can
        # fire it at once and then abort (RST) before our Close frame is read; the
        # connection runs its own exact timer instead (websocket.CLOSE_HANDSHAKE_S).
        closeHandshakeTimeout=0,
        # Send a Close with the reason code (1002, 1007, 1009) instead of dropping TCP,
        # as RFC 6455 §7.1.7 prefers.
        failByDrop=False,
        # §5.5.1: a Close answering a Close "typically echos the status code it received".
        echoCloseCodeReason=True,
        webStatus=False,
        allowNullOrigin=True,
        perMessageCompressionAccept=accept if config.ws_per_message_deflate else None,
    )
    return factory


def _deflate_acceptor(max_message_bytes: int) -> Any:
    """Accept the first permessage-deflate offer (RFC 7692), inflation bounded by the limit."""

    def accept(offers: list[Any]) -> Any:
        for offer in offers:
            if isinstance(offer, PerMessageDeflateOffer):
                return PerMessageDeflateOfferAccept(  # type: ignore[no-untyped-call]
                    offer, max_message_size=max_message_bytes or None
                )
        return None

    return accept


def close_frame_failure(code: int | None, reason: bytes | None) -> tuple[int, str] | None:
    """The close code and text to fail a connection whose Close frame is invalid."""
    if code is not None and not (code in _ALLOWED_CLOSE_CODES or 3000 <= code <= 4999):
        return 1002, f"invalid close code {code}"
    if reason:
        try:
            reason.decode("utf-8")
        except UnicodeDecodeError:
            return 1007, "close reason is not valid UTF-8"
    return None


def header_text(value: bytes) -> str:
    # Autobahn writes the handshake response as UTF-8 text; only UTF-8 bytes survive that
    # unchanged.
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(f"websocket.accept header value is not UTF-8: {value!r}") from None
