"""File bodies for the ``http.response.pathsend`` and ``http.response.zerocopysend`` extensions.

Neither HTTP/2 framing nor TLS lets the kernel send a file directly, so "zero copy" here
means the app hands over a file instead of bytes: the cycle reads it in bounded chunks
and sends each like an ``http.response.body`` message, with the same backpressure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from asgid.errors import ProtocolError
from asgid.types import Message

CHUNK_BYTES = 256 * 1024

FILE_MESSAGES = frozenset({"http.response.pathsend", "http.response.zerocopysend"})


def file_chunks(kind: str, message: Message) -> tuple[Iterator[bytes], bool]:
    """The chunks a file message stands for, and whether more body messages follow."""
    if kind == "http.response.pathsend":
        path = message.get("path")
        if not isinstance(path, str) or not os.path.isabs(path):
            raise ProtocolError(
                f"http.response.pathsend 'path' must be an absolute str, got {path!r}"
            )
        return _read_path(path), False
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
    return _read_fd(fd, offset, count), bool(message.get("more_body", False))


def _read_path(path: str) -> Iterator[bytes]:
    fd = os.open(path, os.O_RDONLY)
    try:
        yield from _read_fd(fd, 0, None)
    finally:
        os.close(fd)


def _read_fd(fd: int, offset: int, count: int | None) -> Iterator[bytes]:
    while count is None or count > 0:
        size = CHUNK_BYTES if count is None else min(CHUNK_BYTES, count)
        chunk = os.pread(fd, size, offset)
        if not chunk:
            return
        offset += len(chunk)
        if count is not None:
            count -= len(chunk)
        yield chunk
