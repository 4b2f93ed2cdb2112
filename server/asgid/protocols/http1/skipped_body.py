"""The body of an upgrade request served as plain HTTP, which llhttp skipped.

httptools has llhttp skip the body of any request that asks to upgrade and stop after
its head; parsed on from there, that body would be read as the next request (one a proxy
in front saw as body: request smuggling). A parser that knows only the body's framing
reads it instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httptools


class _BodyCallbacks:
    """httptools callbacks for a parser that reads one request body and nothing else."""

    def __init__(
        self,
        on_body: Callable[[bytes], None],
        on_chunk_header: Callable[[], None],
        on_message_complete: Callable[[], None],
    ) -> None:
        self.on_body = on_body
        self.on_chunk_header = on_chunk_header
        self.on_message_complete = on_message_complete


def body_parser(
    on_body: Callable[[bytes], None],
    on_chunk_header: Callable[[], None],
    on_message_complete: Callable[[], None],
    *,
    chunked: bool,
    length: int,
) -> Any:
    """A parser that reads a ``chunked`` or ``length``-byte body, then refuses any byte
    more (its head says ``Connection: close``: no further request is read this way)."""
    parser = httptools.HttpRequestParser(
        _BodyCallbacks(on_body, on_chunk_header, on_message_complete)
    )
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % length
    parser.feed_data(b"POST / HTTP/1.1\r\nConnection: close\r\n" + framing + b"\r\n\r\n")
    return parser
