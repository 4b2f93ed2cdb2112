"""The ASGI HTTP extensions' messages that an ``HTTPCycle`` passes to its wire beside the
body: file bodies (``http.response.pathsend``, ``http.response.zerocopysend``), server
push and early hints. Trailers are a state of the cycle's table and stay in ``asgi.http``.

Mixed into ``http.HTTPCycle``; each wire offers what it can (``can_send_file`` and
``send_file``, ``push``), and a message it cannot act on is checked and dropped.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, NoReturn, Protocol

from asgid.asgi.files import FileSpan, open_file
from asgid.asgi.headers import validate_headers
from asgid.asgi.send_timeout import SendTimedOut
from asgid.errors import ClientDisconnected, ProtocolError
from asgid.events import EarlyHints

if TYPE_CHECKING:
    from asgid.events import ResponseEvent
    from asgid.types import Message


class ExtensionWire(Protocol):
    """What these messages need of every wire; the rest is asked for with ``getattr``."""

    def send_event(self, event: ResponseEvent) -> None: ...


class HTTPExtensions:
    """The extension messages of an HTTP cycle; its state is the cycle's."""

    # the cycle's attributes these methods use
    stream_id: int
    _wire: ExtensionWire
    _disconnected: bool

    if TYPE_CHECKING:  # the cycle's methods, for the type checker only

        def _body_message(self, message: Message) -> Awaitable[None] | None: ...
        async def _wait_sent(self, waiter: Awaitable[None]) -> None: ...
        def _stalled(self, exc: SendTimedOut) -> NoReturn: ...

    async def _file_message(self, kind: str, message: Message) -> None:
        """pathsend/zerocopysend: the file straight to the kernel where the wire can, else
        its chunks as body messages, with backpressure either way."""
        span, more = open_file(kind, message)
        try:
            if getattr(self._wire, "can_send_file", False):
                await self._send_file(span, more)
            else:
                await self._send_file_chunks(span, more)
        finally:
            span.close()

    async def _send_file(self, span: FileSpan, more: bool) -> None:
        waiter = self._body_message({"body": b"", "more_body": True})  # the head goes first
        if waiter is not None:
            await self._wait_sent(waiter)
        if span.count and not self._disconnected:
            send_file = self._wire.send_file  # type: ignore[attr-defined]
            try:
                await send_file(self.stream_id, span.fd, span.offset, span.count)
            except SendTimedOut as exc:  # the wire waits for the socket itself
                self._stalled(exc)
        if self._disconnected:
            raise ClientDisconnected("the client closed the connection")
        if not more:
            self._body_message({"body": b"", "more_body": False})

    async def _send_file_chunks(self, span: FileSpan, more: bool) -> None:
        chunks = span.chunks()
        chunk = next(chunks, b"")
        while True:
            following = next(chunks, None) if chunk else None
            last = following is None
            waiter = self._body_message({"body": chunk, "more_body": more or not last})
            if waiter is not None:
                await self._wait_sent(waiter)
            if following is None:
                return
            if self._disconnected:
                raise ClientDisconnected("the client closed the connection")  # stop reading
            chunk = following

    def _push(self, message: Message) -> None:
        """``http.response.push``: only wires that can push (HTTP/2) act on it."""
        path = message.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ProtocolError(f"http.response.push 'path' must start with '/', got {path!r}")
        push = getattr(self._wire, "push", None)
        if push is not None:
            push(path, validate_headers(message.get("headers", ())))

    def _early_hint(self, message: Message) -> None:
        """``http.response.early_hint``: ``links`` become ``link`` fields of a 103 response.

        The wire decides whether it can send one (not to HTTP/1.0 clients, RFC 8297 §3).
        """
        links = message.get("links")
        if not isinstance(links, (list, tuple)) or not all(
            isinstance(link, bytes) for link in links
        ):
            raise ProtocolError(
                "http.response.early_hint 'links' must be a list of byte strings such as "
                f"b'</style.css>; rel=preload; as=style', got {links!r:.80}"
            )
        if links:
            headers = validate_headers((b"link", link) for link in links)
            self._wire.send_event(EarlyHints(self.stream_id, headers))
