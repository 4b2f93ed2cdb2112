"""HTTP/2 connection start-up: h2's state, our SETTINGS and connection window, h2c's stream 1."""

from __future__ import annotations

from typing import TYPE_CHECKING

from h2.config import H2Configuration
from h2.connection import AllowedStreamIDs, H2Connection
from h2.settings import SettingCodes, Settings
from h2.stream import H2Stream as H2StreamState

from asgid.events import Request

if TYPE_CHECKING:
    from asgid.config import Config


class BoundedH2Connection(H2Connection):
    """h2's connection state, remembering fewer closed streams.

    h2 records how each closed stream ended, for its last 2**16 streams, to answer late
    frames on them: about 170 bytes a stream, so one long-lived connection grew by up to
    11 MB (seen as steady RSS growth in ``make soak``). 1024 still covers every frame in
    flight for a stream closed moments ago; a frame for one closed longer ago is a
    connection error, as RFC 9113 §5.1 allows.
    """

    MAX_CLOSED_STREAMS = 1024

    def _begin_new_stream(self, stream_id: int, allowed_ids: AllowedStreamIDs) -> H2StreamState:
        stream = super()._begin_new_stream(stream_id, allowed_ids)
        # Same layout, two methods changed: h2 builds its streams itself, with no hook.
        stream.__class__ = LengthUncheckedStream
        return stream


class LengthUncheckedStream(H2StreamState):
    """h2's stream state, leaving ``content-length`` to the handlers.

    h2 raises a ProtocolError, which ends the whole connection, for a ``content-length``
    that is no number or that disagrees with the DATA received. RFC 9113 §8.1.1 makes such
    a request malformed: a stream error. ``handlers`` checks both and resets that stream.
    """

    def _initialize_content_length(self, headers: object) -> None:
        self._expected_content_length = None

    def _track_content_length(self, length: int, end_stream: bool) -> None:
        self._actual_content_length += length


# How many streams beyond SETTINGS_MAX_CONCURRENT_STREAMS h2 lets through for the handlers
# to refuse one by one: h2 opens all the streams of one 16 KiB read slice before any handler
# runs, and a slice holds at most ~1,640 HEADERS frames (10 bytes each). The flood guard
# ends a client that keeps trying long before; this is only h2's own backstop.
REFUSABLE_STREAMS = 2048


class LocalSettings(Settings):
    """Our SETTINGS as advertised, except the stream limit h2 enforces on its own.

    h2 answers a stream beyond MAX_CONCURRENT_STREAMS with a connection error, but RFC 9113
    §5.1.2 makes it a stream error: h2 is given headroom and ``handlers.on_request`` refuses
    the stream (RST_STREAM REFUSED_STREAM), spending the flood guard's reset budget.
    """

    @property
    def max_concurrent_streams(self) -> int:
        return self.get(SettingCodes.MAX_CONCURRENT_STREAMS, 2**31) + REFUSABLE_STREAMS

    @max_concurrent_streams.setter
    def max_concurrent_streams(self, value: int) -> None:
        self[SettingCodes.MAX_CONCURRENT_STREAMS] = value


def new_connection() -> BoundedH2Connection:
    """h2's state for one server-side connection, with bytes for header names and values."""
    return BoundedH2Connection(
        H2Configuration(
            client_side=False,
            header_encoding=None,
            # Checked by the handlers (headers.malformed): a stream error, not h2's
            # connection error (RFC 9113 §8.1.1).
            validate_inbound_headers=False,
            normalize_inbound_headers=False,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
        )
    )


CONNECTION_WINDOW_STREAMS = 16  # connection window = this many stream windows
H2C_SWITCHING = b"HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n"
_H2C_ONLY = (b"connection", b"upgrade", b"http2-settings")  # hop-by-hop fields of the upgrade


def start_connection(h2: H2Connection, config: Config, upgrade_settings: bytes | None) -> None:
    """Send our SETTINGS (RFC 9113 §3.4) and open the connection window."""
    # Initial values count from the start; a SETTINGS change would count only once acked.
    h2.local_settings = LocalSettings(
        client=False,
        initial_values={
            SettingCodes.MAX_CONCURRENT_STREAMS: config.h2_max_concurrent_streams,
            SettingCodes.MAX_HEADER_LIST_SIZE: config.h2_max_header_list_bytes,
            SettingCodes.INITIAL_WINDOW_SIZE: config.h2_initial_window_bytes,
            SettingCodes.ENABLE_PUSH: 0,
            SettingCodes.ENABLE_CONNECT_PROTOCOL: 1,  # RFC 8441 WebSockets
        },
    )
    # RFC 9113 §10.5.1 / CVE-2016-6581 (HPACK bomb): decoded header lists are bounded.
    h2.decoder.max_header_list_size = config.h2_max_header_list_bytes
    if upgrade_settings is None:
        h2.initiate_connection()
    else:
        h2.initiate_upgrade_connection(upgrade_settings)
    # The connection window starts at 65,535 whatever we say (RFC 9113 §6.9.2); widen
    # it so one stream's unread body cannot starve the others.
    extra = config.h2_initial_window_bytes * CONNECTION_WINDOW_STREAMS - 65535
    if extra > 0:
        h2.increment_flow_control_window(extra)


def h2c_settings(request: Request) -> bytes:
    """The ``HTTP2-Settings`` field of an ``Upgrade: h2c`` request (RFC 7540 §3.2.1)."""
    settings = b""
    for name, value in request.headers:
        if name == b"http2-settings":
            settings = value
    return settings


def h2c_stream_request(request: Request) -> tuple[Request, int]:
    """The upgrade request as stream 1, and how many body bytes follow it as HTTP/1.1."""
    headers = [(name, value) for name, value in request.headers if name not in _H2C_ONLY]
    upgraded = Request(
        1, "2", request.method, request.raw_path, request.query_string, headers, None
    )
    length = next((v for n, v in request.headers if n == b"content-length"), b"0")
    # RFC 7540 §3.2: the upgrade request's body comes as HTTP/1.1 bytes before the preface.
    return upgraded, int(length) if length.isdigit() else 0
