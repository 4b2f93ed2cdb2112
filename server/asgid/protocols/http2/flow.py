"""Outbound HTTP/2 data within the peer's flow-control windows, by priority when streams compete.

Theory of operation: a stream's data goes straight out while its window and the
connection's window allow (the common case: no scheduling cost at all). Data that does
not fit waits in the stream's own buffer, and the stream joins a ``priority`` tree built
from the peer's PRIORITY signals (RFC 7540 §5.3; deprecated by RFC 9113 §5.3 but still
sent by clients). When windows open again (WINDOW_UPDATE, SETTINGS), waiting streams get
one frame at a time in weighted order until the connection window is spent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from h2.exceptions import ProtocolError, StreamClosedError
from priority import DeadlockError, PriorityTree  # type: ignore[import-untyped]
from priority.priority import PriorityError  # type: ignore[import-untyped]

if TYPE_CHECKING:
    from collections.abc import Callable

    from h2.connection import H2Connection

    from asgid.protocols.http2.stream import H2Stream


class FlowScheduler:
    """Send stream data as windows allow; remember who waits, and in what order to serve them."""

    __slots__ = ("_h2", "_tree", "_in_tree", "_waiting", "_priorities", "_on_complete", "_on_gone")

    def __init__(
        self,
        h2: H2Connection,
        *,
        on_complete: Callable[[H2Stream], None],
        on_gone: Callable[[H2Stream], None],
    ) -> None:
        self._h2 = h2
        self._tree = PriorityTree()
        self._in_tree: set[int] = set()
        self._waiting: dict[int, H2Stream] = {}
        # (depends_on, weight, exclusive) as last signalled, for streams not yet in the tree
        self._priorities: dict[int, tuple[int, int, bool]] = {}
        self._on_complete = on_complete
        self._on_gone = on_gone

    # -- priority signals ------------------------------------------------------------------
    def prioritize(self, stream_id: int, depends_on: int, weight: int, exclusive: bool) -> None:
        if stream_id in self._in_tree:
            parent = depends_on if depends_on in self._in_tree else 0
            try:
                self._tree.reprioritize(stream_id, parent, weight, exclusive)
            except PriorityError:
                pass  # h2 already refused self-dependency; a loop keeps the old order
        else:
            self._priorities[stream_id] = (depends_on, weight, exclusive)

    def forget(self, stream_id: int) -> None:
        self._priorities.pop(stream_id, None)
        self._waiting.pop(stream_id, None)
        if stream_id in self._in_tree:
            self._in_tree.discard(stream_id)
            self._tree.remove_stream(stream_id)

    def release(self) -> None:
        """The connection is gone: let go of its streams and of its callbacks.

        The callbacks are the connection's bound methods, so keeping them would make the
        connection and this scheduler a reference cycle that only the cyclic collector
        frees; an app still running on a dead stream gets no-ops instead.
        """
        self._waiting.clear()
        self._on_complete = self._on_gone = _ignore

    # -- sending ---------------------------------------------------------------------------
    def pump(self, stream: H2Stream) -> None:
        """Send what ``stream`` has, or queue it behind the streams already waiting."""
        if self._waiting:
            self._wait(stream)
            self.pump_waiting()
            return
        try:
            while stream.pending:
                if not self._send_frame(stream):
                    self._wait(stream)
                    return
            self._maybe_complete(stream)
        except (StreamClosedError, ProtocolError):
            self._on_gone(stream)

    def windows_opened(self, stream_id: int | None) -> None:
        """WINDOW_UPDATE (``None``: connection-wide or SETTINGS) arrived.

        Nothing is sent yet: the caller calls ``pump_waiting`` once the whole batch of
        frames is read, so every stream whose window opened competes by priority.
        """
        if stream_id is None:
            for waiting_id in self._waiting:
                self._tree.unblock(waiting_id)
        elif stream_id in self._waiting:
            self._tree.unblock(stream_id)

    def pump_waiting(self) -> None:
        h2 = self._h2
        waiting = self._waiting
        tree = self._tree
        while waiting and h2.outbound_flow_control_window > 0:
            try:
                stream_id = next(tree)
            except DeadlockError:
                return
            stream = waiting[stream_id]
            try:
                if stream.pending and not self._send_frame(stream):
                    tree.block(stream_id)
                    continue
                if not stream.pending:
                    del waiting[stream_id]
                    tree.block(stream_id)
                    self._maybe_complete(stream)
            except (StreamClosedError, ProtocolError):
                self._on_gone(stream)

    def _send_frame(self, stream: H2Stream) -> bool:
        """One DATA frame from the stream's buffer; False when a window is closed."""
        h2 = self._h2
        stream_id = stream.stream_id
        window = h2.local_flow_control_window(stream_id)
        if window <= 0:
            return False
        size = min(window, h2.max_outbound_frame_size)
        pending = stream.pending
        chunk = pending[0]
        if len(chunk) > size:
            pending[0] = chunk[size:]
            chunk = chunk[:size]
        else:
            pending.popleft()
        stream.pending_bytes -= len(chunk)
        last = not pending and stream.end_pending and stream.trailers is None
        h2.send_data(stream_id, chunk, end_stream=last)
        if last:
            stream.end_sent = True
        return True

    def _maybe_complete(self, stream: H2Stream) -> None:
        """The buffer is empty: end the stream if the app has, and let the app send again."""
        if stream.end_pending and not stream.done:
            if stream.trailers is not None:
                self._h2.send_headers(stream.stream_id, stream.trailers, end_stream=True)
            elif not stream.end_sent:
                self._h2.end_stream(stream.stream_id)
            stream.end_sent = True
            self._on_complete(stream)
        stream.wake()

    def _wait(self, stream: H2Stream) -> None:
        stream_id = stream.stream_id
        if stream_id in self._waiting:
            return
        self._waiting[stream_id] = stream
        if stream_id not in self._in_tree:
            depends_on, weight, exclusive = self._priorities.pop(stream_id, (0, 16, False))
            parent = depends_on if depends_on in self._in_tree else 0
            try:
                self._tree.insert_stream(stream_id, parent, weight, exclusive)
            except PriorityError:
                self._tree.insert_stream(stream_id)
            self._in_tree.add(stream_id)
        self._tree.unblock(stream_id)


def _ignore(stream: H2Stream) -> None:
    pass
