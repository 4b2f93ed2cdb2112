"""Raw HTTP/2 frames over a real socket (TCP or TLS): write anything, read frames as they come.

The tests use this to send what a well-behaved client never would (bad SETTINGS, frames on
closed streams, floods) and to check the exact frames and error codes the server answers.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Iterable

from hpack import Encoder
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PriorityFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# RFC 9113 §7 error codes, by name, for readable assertions.
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0x0, 0x1, 0x2, 0x3
SETTINGS_TIMEOUT, STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM = 0x4, 0x5, 0x6, 0x7
CANCEL, COMPRESSION_ERROR, ENHANCE_YOUR_CALM = 0x8, 0x9, 0xB

HEADERS_TABLE_SIZE, ENABLE_PUSH, MAX_CONCURRENT_STREAMS = 0x1, 0x2, 0x3
INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE, MAX_HEADER_LIST_SIZE = 0x4, 0x5, 0x6


class Closed(Exception):
    """The server closed the connection."""


class RawH2:
    """A hand-driven HTTP/2 client connection."""

    def __init__(self, host: str, port: int, *, tls: ssl.SSLContext | None = None) -> None:
        sock = socket.create_connection((host, port), timeout=5)
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname="localhost")
        self.sock = sock
        self.encoder = Encoder()
        self.frames: list[Frame] = []
        self._buffer = b""
        self.closed = False

    # -- writing -------------------------------------------------------------------------
    def send(self, *frames: Frame | bytes) -> None:
        data = b"".join(f if isinstance(f, bytes) else f.serialize() for f in frames)
        self.sock.sendall(data)

    def handshake(self, settings: dict[int, int] | None = None) -> None:
        """Preface and SETTINGS; ACK the server's SETTINGS once it arrives."""
        frame = SettingsFrame(0)
        frame.settings = dict(settings or {})
        self.send(PREFACE, frame)
        self.expect(lambda f: isinstance(f, SettingsFrame) and "ACK" not in f.flags)
        self.send(SettingsFrame(0, flags=["ACK"]))

    def headers(
        self,
        stream_id: int,
        path: str = "/",
        *,
        method: str = "GET",
        extra: Iterable[tuple[str, str]] = (),
        end_stream: bool = True,
        pseudo: list[tuple[str, str]] | None = None,
    ) -> HeadersFrame:
        fields = pseudo or [
            (":method", method),
            (":scheme", "http"),
            (":path", path),
            (":authority", "localhost"),
        ]
        frame = HeadersFrame(stream_id, flags=["END_HEADERS"])
        frame.data = self.encoder.encode([*fields, *extra])
        if end_stream:
            frame.flags.add("END_STREAM")
        return frame

    @staticmethod
    def header_block(stream_id: int, block: bytes, size: int = 16384) -> list[Frame]:
        """A header block too big for one frame: HEADERS then CONTINUATION frames."""
        pieces = [block[i : i + size] for i in range(0, len(block), size)]
        frames: list[Frame] = [HeadersFrame(stream_id, data=pieces[0], flags=["END_STREAM"])]
        frames += [ContinuationFrame(stream_id, data=piece) for piece in pieces[1:]]
        frames[-1].flags.add("END_HEADERS")
        return frames

    @staticmethod
    def data(stream_id: int, payload: bytes, *, end_stream: bool = False) -> DataFrame:
        frame = DataFrame(stream_id, data=payload)
        if end_stream:
            frame.flags.add("END_STREAM")
        return frame

    @staticmethod
    def settings(values: dict[int, int]) -> SettingsFrame:
        frame = SettingsFrame(0)
        frame.settings = values
        return frame

    @staticmethod
    def window_update(stream_id: int, increment: int) -> WindowUpdateFrame:
        return WindowUpdateFrame(stream_id, window_increment=increment)

    @staticmethod
    def rst(stream_id: int, code: int = CANCEL) -> RstStreamFrame:
        return RstStreamFrame(stream_id, error_code=code)

    @staticmethod
    def ping(payload: bytes = b"12345678") -> PingFrame:
        return PingFrame(0, opaque_data=payload)

    @staticmethod
    def priority(stream_id: int, depends_on: int, weight: int = 16) -> PriorityFrame:
        return PriorityFrame(stream_id, depends_on=depends_on, stream_weight=weight - 1)

    @staticmethod
    def continuation(stream_id: int, block: bytes, *, end: bool = False) -> ContinuationFrame:
        frame = ContinuationFrame(stream_id, data=block)
        if end:
            frame.flags.add("END_HEADERS")
        return frame

    # -- reading ---------------------------------------------------------------------------
    def _read_frame(self, deadline: float) -> Frame:
        while True:
            if len(self._buffer) >= 9:
                frame, length = Frame.parse_frame_header(memoryview(self._buffer[:9]))
                if len(self._buffer) >= 9 + length:
                    frame.parse_body(memoryview(self._buffer[9 : 9 + length]))
                    self._buffer = self._buffer[9 + length :]
                    self.frames.append(frame)
                    return frame
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no complete frame in time")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
                chunk = b""
            if not chunk:
                self.closed = True
                raise Closed()
            self._buffer += chunk

    def expect(self, match: Callable[[Frame], bool], timeout: float = 5.0) -> Frame:
        """Read until a frame matches (earlier frames stay in ``self.frames``)."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self._read_frame(deadline)
            if match(frame):
                return frame

    def expect_goaway(self, timeout: float = 5.0) -> GoAwayFrame:
        frame = self.expect(lambda f: isinstance(f, GoAwayFrame), timeout)
        assert isinstance(frame, GoAwayFrame)
        return frame

    def expect_rst(self, stream_id: int, timeout: float = 5.0) -> RstStreamFrame:
        frame = self.expect(
            lambda f: isinstance(f, RstStreamFrame) and f.stream_id == stream_id, timeout
        )
        assert isinstance(frame, RstStreamFrame)
        return frame

    def expect_closed(self, timeout: float = 5.0) -> None:
        """Read (and keep) frames until the server closes the connection."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._read_frame(deadline)
        except Closed:
            return

    def body(self, stream_id: int, timeout: float = 5.0) -> bytes:
        """Collect a stream's DATA until END_STREAM, returning flow-control credit as we go."""
        chunks: list[bytes] = []
        deadline = time.monotonic() + timeout
        while True:
            frame = self._read_frame(deadline)
            if frame.stream_id != stream_id:
                continue
            if isinstance(frame, DataFrame):
                chunks.append(bytes(frame.data))
                if frame.data:
                    self.send(
                        self.window_update(0, len(frame.data)),
                        self.window_update(stream_id, len(frame.data)),
                    )
            if "END_STREAM" in frame.flags:
                return b"".join(chunks)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> RawH2:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
