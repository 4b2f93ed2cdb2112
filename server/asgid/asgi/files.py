"""File bodies for the ``http.response.pathsend`` and ``http.response.zerocopysend`` extensions.

A wire that can hand a file to the kernel (HTTP/1.1 on plain TCP: ``os.sendfile``) sends
the span straight from the file; HTTP/2 framing and TLS cannot, so there the cycle reads
the span in bounded chunks and sends each like an ``http.response.body`` message, with
the same backpressure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from asgid.errors import ProtocolError
from asgid.types import Message

CHUNK_BYTES = 256 * 1024

FILE_MESSAGES = frozenset({"http.response.pathsend", "http.response.zerocopysend"})


class FileSpan:
    """``count`` bytes of the open file ``fd`` from ``offset``; closes ``fd`` only if it
    opened it (pathsend), never the app's file (zerocopysend)."""

    __slots__ = ("fd", "offset", "count", "_owned")

    def __init__(self, fd: int, offset: int, count: int | None, *, owned: bool) -> None:
        self.fd = fd
        self.offset = offset
        self._owned = owned
        if count is None:
            count = max(os.fstat(fd).st_size - offset, 0)
        self.count = count

    def chunks(self) -> Iterator[bytes]:
        offset, count = self.offset, self.count
        while count > 0:
            chunk = os.pread(self.fd, min(CHUNK_BYTES, count), offset)
            if not chunk:
                return
            offset += len(chunk)
            count -= len(chunk)
            yield chunk

    def close(self) -> None:
        if self._owned:
            self._owned = False
            os.close(self.fd)


def open_file(kind: str, message: Message) -> tuple[FileSpan, bool]:
    """The span a file message stands for, and whether more body messages follow."""
    if kind == "http.response.pathsend":
        path = message.get("path")
        if not isinstance(path, str) or not os.path.isabs(path):
            raise ProtocolError(
                f"http.response.pathsend 'path' must be an absolute str, got {path!r}"
            )
        fd = os.open(path, os.O_RDONLY)
        try:
            return FileSpan(fd, 0, None, owned=True), False
        except BaseException:
            os.close(fd)
            raise
    file: Any = message.get("file")
    try:
        fd = file.fileno()
    except (AttributeError, OSError, ValueError):
        raise ProtocolError(
            f"http.response.zerocopysend 'file' must be a file with a fileno(), got {file!r:.60}"
        ) from None
    offset = message.get("offset")
    count = message.get("count")
    if offset is None:
        offset = os.lseek(fd, 0, os.SEEK_CUR)
    if not isinstance(offset, int) or offset < 0 or not (count is None or isinstance(count, int)):
        raise ProtocolError("http.response.zerocopysend 'offset'/'count' must be whole numbers")
    return FileSpan(fd, offset, count, owned=False), bool(message.get("more_body", False))
