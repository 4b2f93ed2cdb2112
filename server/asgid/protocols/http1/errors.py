"""Error answers for requests the HTTP/1.1 wire refuses before any app sees them."""

from __future__ import annotations

import httptools

from asgid.protocols.io.headers import date_header


class RejectRequest(Exception):
    """Raised from parser callbacks: answer ``status`` and close the connection."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


def reject_from_parser(exc: httptools.HttpParserError) -> RejectRequest:
    """llhttp's message names the fault; the client gets it back to help debugging."""
    detail = str(exc) or "malformed request"
    if isinstance(exc, httptools.HttpParserInvalidMethodError):
        return RejectRequest(400, f"Bad Request: invalid method ({detail})")
    if isinstance(exc, httptools.HttpParserInvalidURLError):
        return RejectRequest(400, f"Bad Request: invalid request target ({detail})")
    return RejectRequest(400, f"Bad Request: {detail}")


def error_response(error: RejectRequest, server_header: bytes | None) -> bytes:
    body = (error.reason + "\n").encode("utf-8", "replace")
    head = [
        b"HTTP/1.1 %d %s\r\n"
        % (error.status, error.reason.split(":")[0].encode("ascii", "replace")),
        b"content-type: text/plain; charset=utf-8\r\n",
        b"content-length: %d\r\n" % len(body),
        b"connection: close\r\n",
        b"date: %s\r\n" % date_header.value(),
    ]
    if server_header is not None:
        head.append(b"server: %s\r\n" % server_header)
    return b"".join(head) + b"\r\n" + body
