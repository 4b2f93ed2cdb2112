"""Autobahn's per-server options (one factory per server) and small checks around it."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept

from asgid.errors import ConfigError, ProtocolError

if TYPE_CHECKING:
    from asgid.config import Config
    from asgid.protocols.io.context import ServerContext

# Autobahn members below its public API that websocket.connection (with the classes mixed
# into it) reads, sets or overrides, with the parameters it passes. pyproject.toml bounds
# autobahn to the versions tested; this check catches an install outside that range at
# start-up instead of on the wire.
_PRIVATE_METHODS = {
    "_dataReceived": ("data",),
    "_fail_connection": ("code", "reason"),
    "dropConnection": ("abort",),
    "sendFrame": ("opcode", "payload", "rsv"),
    "sendCloseFrame": ("code", "reasonUtf8", "isReply"),
    "sendData": ("data", "sync", "chopsize"),
    "onCloseFrame": ("code", "reasonRaw"),
}
_PRIVATE_ATTRIBUTES = (
    "send_queue", "_perMessageCompress", "message_data", "message_is_binary",
    "message_data_total_length", "failedByMe", "closedByMe", "wasClean",
    "wasCloseHandshakeTimeout", "wasNotCleanReason", "state", "is_open", "is_closed",
    # the parser's state between frames, and the options a plain frame's reading depends
    # on (plain_reader)
    "data", "current_frame", "inside_message", "applyMask", "utf8validateIncoming",
    "logOctets", "logFrames", "trackTimings", "autoPingInterval", "maxFramePayloadSize",
    "maxMessagePayloadSize",
    # the options copied from the factory to each connection (connection.connectionMade)
    "CONFIG_ATTRS",
)  # fmt: skip

# What Autobahn keeps per connection (its options copied from the factory, then its
# state), held in slots of websocket.connection's class instead of an instance dict of
# over 100 entries (3.3 KB per WebSocket). A slot hides a class attribute of the same
# name, so none of these may be one in Autobahn's classes (checked below). Autobahn's
# write queue and UTF-8 validator are not here: the connection makes them on first use.
AUTOBAHN_SLOTS = tuple(
    dict.fromkeys((
        *WebSocketServerProtocol.CONFIG_ATTRS,
        "is_open", "is_closed", "_transport_details", "_perMessageCompress",
        "trackedTimings", "trafficStats", "state", "send_state", "data", "triggered",
        "wasMaxFramePayloadSizeExceeded", "wasMaxMessagePayloadSizeExceeded", "closedByMe",
        "failedByMe", "droppedByMe", "wasClean", "wasNotCleanReason",
        "wasServerConnectionDropTimeout", "wasOpenHandshakeTimeout",
        "wasCloseHandshakeTimeout", "wasServingFlashSocketPolicyFile", "localCloseCode",
        "localCloseReason", "remoteCloseCode", "remoteCloseReason",
        "openHandshakeTimeoutCall", "closeHandshakeTimeoutCall", "autoPingTimeoutCall",
        "autoPingPending", "autoPingPendingCall", "autoPingPendingSeq", "autoPingPendingSent",
        # the opening handshake
        "http_request_data", "http_status_line", "http_headers", "http_request_uri",
        "http_request_path", "http_request_params", "http_request_host",
        "websocket_version", "websocket_protocols", "websocket_origin",
        "websocket_extensions", "_wskey", "websocket_protocol_in_use",
        "websocket_extensions_in_use", "http_response_data",
        # reading frames and messages
        "inside_message", "current_frame", "current_frame_masker", "control_frame_data",
        "frame_length", "frame_data", "_isMessageCompressed",
        "utf8validateIncomingCurrentMessage", "utf8validateLast", "message_is_binary",
        "message_data", "message_data_total_length",
    ))
)  # fmt: skip
# What Autobahn's server reads only while it answers the opening handshake.
HANDSHAKE_STATE = (
    "http_request_data", "http_status_line", "http_headers", "http_request_uri",
    "http_request_path", "http_request_params", "http_request_host", "websocket_protocols",
    "websocket_origin", "websocket_extensions", "_wskey", "http_response_data",
)  # fmt: skip


def check_autobahn_internals(protocol: type[Any] = WebSocketServerProtocol) -> None:
    """Raise ``ConfigError`` naming what changed if Autobahn no longer has those members."""
    problems = []
    for name, params in _PRIVATE_METHODS.items():
        method = getattr(protocol, name, None)
        if not callable(method):
            problems.append(f"method {name} is gone")
            continue
        missing = [p for p in params if p not in inspect.signature(method).parameters]
        if missing:
            problems.append(f"{name} no longer takes {', '.join(missing)}")
    assigned = _names_in_code(protocol)
    problems += [
        f"attribute {a} is no longer used" for a in _PRIVATE_ATTRIBUTES if a not in assigned
    ]
    problems += [
        f"{a} is now a class attribute, which asgid's slot of that name would hide"
        for a in AUTOBAHN_SLOTS
        if any(a in vars(klass) for klass in protocol.__mro__)
    ]
    if problems:
        from importlib.metadata import version

        raise ConfigError(
            f"autobahn {version('autobahn')} is not a version asgid works with "
            f"({'; '.join(problems)}): install the autobahn version range that asgid's "
            "pyproject.toml names"
        )


def _names_in_code(protocol: type[Any]) -> set[str]:
    """Every attribute name Autobahn's own protocol code mentions."""
    names: set[str] = set()
    for klass in protocol.__mro__:
        if not klass.__module__.startswith("autobahn"):
            continue
        for value in vars(klass).values():
            code = getattr(value, "__code__", None)
            if code is not None:
                names.update(code.co_names)
    return names


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
    accept = _deflate_acceptor(autobahn_message_budget(config.websocket_max_message_bytes))
    factory.setProtocolOptions(  # type: ignore[no-untyped-call]
        maxMessagePayloadSize=autobahn_message_budget(config.websocket_max_message_bytes),
        maxFramePayloadSize=config.websocket_max_frame_bytes,
        # The app's answer is timed by us (--websocket_connect_timeout); the head is
        # already complete when Autobahn sees it.
        openHandshakeTimeout=0,
        # Autobahn schedules this on txaio's batched timer, whose whole-second buckets can
        # fire it at once and then abort (RST) before our Close frame is read; the
        # connection runs its own exact timer instead (timers.CLOSE_HANDSHAKE_S).
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


def autobahn_message_budget(max_message_bytes: int) -> int:
    """What Autobahn is told: one byte over our limit, which the connection enforces itself.

    Autobahn (26.10) inflates a compressed frame with zlib's ``max_length`` set to the bytes
    left under its limit; when zlib consumed the whole frame but still holds output, the
    message is cut at exactly the limit and delivered, not refused. With one byte of slack a
    message over our limit always arrives over it, and the connection answers 1009.
    """
    return max_message_bytes + 1 if max_message_bytes else 0


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
