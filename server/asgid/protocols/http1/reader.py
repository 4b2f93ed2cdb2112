"""One HTTP/1.1 request head as httptools reports it: target, fields, byte budget, checks.

``HTTP1Protocol`` hands httptools this object's ``begin``, ``add_url`` and ``add_header``
as its ``on_message_begin``/``on_url``/``on_header`` callbacks (httptools looks callbacks
up once, when the parser is made), so the per-field path costs no extra call; when the
head is complete, ``request()`` applies the rules of ``head.py`` and returns the
``Request`` event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from asgid.events import Request, new_event
from asgid.protocols.http1.errors import RejectRequest
from asgid.protocols.http1.head import (
    HOSTS_SEEN,
    OWS,
    check_head,
    check_head_size,
    loose_request_line,
    split_target,
)

if TYPE_CHECKING:
    from asgid.config import Config

HEAD_SLACK = 4096  # request-line/header framing bytes allowed beyond the configured limits
# The fields the wire acts on; Connection and Proxy-Connection (llhttp reads both) only tell
# ``request`` that the parser's keep-alive answer does not give the version away.
WATCHED_HEADERS = frozenset(
    {
        b"host",
        b"expect",
        b"te",
        b"content-length",
        b"transfer-encoding",
        b"connection",
        b"proxy-connection",
    }
)
OWS_LAST = (b" ", b"\t")


def _no_method() -> bytes:
    return b""


class HeadReader:
    """The request head being read on one connection."""

    __slots__ = (
        "url",
        "method",
        "parser_method",
        "headers",
        "watched",
        "in_head",
        "head_bytes",
        "chunks",
        "_max_line",
        "_max_headers",
        "_max_header_bytes",
        "_budget",
    )

    def __init__(self, config: Config) -> None:
        self._max_line = config.limit_request_line_bytes
        self._max_headers = config.limit_request_headers
        self._max_header_bytes = config.limit_request_header_bytes
        self._budget = self._max_line + self._max_header_bytes + HEAD_SLACK
        self.url = b""
        self.method = b""  # noted with the target's first bytes
        # The parser's ``get_method``; the protocol sets it with each parser and lets go of
        # it in ``release`` (the parser refers back to the protocol).
        self.parser_method: Callable[[], bytes] = _no_method
        self.headers: list[tuple[bytes, bytes]] = []
        self.watched: list[tuple[bytes, bytes]] | None = None  # the fields the wire acts on
        self.in_head = False
        self.head_bytes = 0
        # What was read since the last request ended: the head's raw bytes (for the
        # request-line check and an upgrade's hand-off); None while a body is read.
        self.chunks: list[bytes] | None = []

    def begin(self) -> None:
        self.url = b""
        self.headers = []
        self.watched = None
        self.in_head = True
        self.head_bytes = 0

    def add_url(self, url: bytes) -> None:
        if not self.url:
            method = self.method = self.parser_method()
            if method == b"PRI":
                # llhttp would wait for the rest of an HTTP/2 preface (RFC 9113 §3.4) forever.
                raise RejectRequest(400, "Bad Request: PRI starts an HTTP/2 preface")
        url = self.url = self.url + url
        if len(url) > self._max_line:
            raise RejectRequest(414, "URI Too Long")

    def add_header(self, name: bytes, value: bytes) -> None:
        # Called for every field of every request: limits are checked once the head is
        # complete (``over_budget`` bounds memory until then).
        if not self.in_head:
            return  # a trailer field: not passed on; ChunkFraming bounds their bytes
        if value[-1:] in OWS_LAST:
            # RFC 9110 §5.5; llhttp drops the whitespace before a value, not after it.
            value = value.strip(OWS)
        pair = (name.lower(), value)
        self.headers.append(pair)
        if pair[0] in WATCHED_HEADERS:
            # Noted here so the head checks and the exchange need not scan every field.
            if self.watched is None:
                self.watched = [pair]
            else:
                self.watched.append(pair)

    def release(self) -> None:
        """Let go of the parser, which refers back to the connection (no reference cycle)."""
        self.parser_method = _no_method

    def over_budget(self, nbytes: int) -> bool:
        """Count ``nbytes`` more of this head. httptools buffers a field line until it
        ends, so one endless value would grow that buffer without this bound."""
        self.head_bytes += nbytes
        return self.head_bytes > self._budget

    def request(
        self, keep_alive: bool, http_version: Callable[[], str], last_read: bytes
    ) -> tuple[Request, bool]:
        """The complete head as a ``Request``, and whether its body is chunked; raises
        ``RejectRequest`` for what RFC 9112 forbids. ``keep_alive`` and ``http_version``
        are the parser's; ``last_read`` is the read that ended the head.

        Each check's common outcome is decided here without a call."""
        url = self.url
        # Origin form without a fragment. ``partition``, not ``find``: one argument, so on
        # Python 3.11 no argument tuple is built and parsed (``in`` is slower still).
        if url[:1] == b"/" and not url.partition(b"#")[1]:
            raw_path, _, query = url.partition(b"?")
        else:
            raw_path, query = split_target(url)
        headers = self.headers
        bytes_read = self.head_bytes + len(last_read)
        if len(headers) > self._max_headers or bytes_read > self._max_header_bytes:
            check_head_size(
                headers,
                max_headers=self._max_headers,
                max_bytes=self._max_header_bytes,
                bytes_read=bytes_read,
            )
        watched = self.watched
        if keep_alive and watched is not None and len(watched) == 1 and watched[0][0] == b"host":
            # Of the versions llhttp accepts (0.9, 1.0, 1.1, 2.0) only HTTP/1.1 keeps the
            # connection without a Connection field: no need to have the parser format it.
            version = "1.1"
            # Nearly every head: one Host field, seen before.
            chunked = False if watched[0][1] in HOSTS_SEEN else check_head(version, watched)
        else:
            version = http_version()
            chunked = check_head(version, watched)
        chunks = self.chunks or (last_read,)
        raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if raw.partition(b"  ")[1] and loose_request_line(raw, self.method, url):
            # llhttp skips extra spaces; a proxy that splits on each one reads another target.
            raise RejectRequest(400, "Bad Request: the request line needs single spaces")
        self.in_head = False
        request = new_event(Request, (0, version, self.method, raw_path, query, headers, None))
        return request, chunked
