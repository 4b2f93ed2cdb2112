"""Plain WebSocket frames read without Autobahn's parser, between messages.

A plain frame (FIN set, no RSV bits, masked, text or binary, a 7- or 16-bit length, whole
in what was read) is one message: ``frames.read_message`` unmasks and decodes it exactly
as Autobahn would, and it goes straight to the cycle. Anything else, from its first byte
on, is Autobahn's to read. Mixed into ``connection.WebSocketConnection``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asgid.protocols.websocket.frames import MAX_FAST_LENGTH, read_message

if TYPE_CHECKING:
    from asgid.asgi.websocket import WebSocketCycle
    from asgid.protocols.io.context import ServerContext


class PlainReader:
    """The plain-frame reading of a WebSocket connection; its state is the connection's."""

    # the connection's attributes these methods use
    ctx: ServerContext
    cycle: WebSocketCycle | None
    data: bytes  # Autobahn's parser buffer: the start of a frame it has not read yet
    _fast_limit: int  # the largest payload read here; -1: none (Autobahn reads all)
    # Autobahn's per-connection copies of its options that _plain_frame_limit reads
    # (declared only: no class attribute shadows the copy)
    applyMask: bool
    utf8validateIncoming: bool
    logOctets: bool
    logFrames: bool
    trackTimings: bool
    autoPingInterval: float
    maxFramePayloadSize: int
    maxMessagePayloadSize: int

    def _read_plain_messages(self, data: bytes) -> bytes:
        """Deliver the whole plain messages at the start of what is buffered; the rest."""
        pending = self.data
        if pending:  # the start of a frame header, left by Autobahn
            data = pending + data
            self.data = b""
        cycle = self.cycle
        hooks = self.ctx.hooks
        limit = self._fast_limit
        start = 0
        size = len(data)
        while start < size and (read := read_message(data, start, limit)) is not None:
            message, end = read
            if cycle is not None:
                if type(message) is str:
                    # its payload's size: the frame less its header (2 + 4 mask bytes, and
                    # 2 length bytes from 126 on; frames.read_message)
                    frame = end - start
                    cycle.feed_text(message, frame - 6 if frame < 132 else frame - 8)
                else:
                    cycle.feed_bytes(message)  # type: ignore[arg-type]
                if hooks is not None:
                    hooks.websocket_message("received")
            start = end
        return data[start:] if start else data

    def _plain_frame_limit(self) -> int:
        """The largest payload ``read_message`` takes; -1 if Autobahn must read every frame.

        Autobahn's options that change how a plain frame is read (not unmasked, not
        validated, logged, timed, auto-ping restarted) are never set by asgid; should they
        be, Autobahn reads everything.
        """
        if not (self.applyMask and self.utf8validateIncoming) or (
            self.logOctets or self.logFrames or self.trackTimings or self.autoPingInterval
        ):
            return -1
        limits = (
            self.maxFramePayloadSize,
            self.maxMessagePayloadSize,
            self.ctx.config.websocket_max_message_bytes,
        )
        return min([MAX_FAST_LENGTH, *(n for n in limits if n > 0)])
