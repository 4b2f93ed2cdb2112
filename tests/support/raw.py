"""A raw-socket HTTP/1.1 client for tests that need exact bytes (pipelining, bad input)."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field


@dataclass
class RawResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


class RawClient:
    """One TCP connection; ``read_response`` parses exactly one response off it."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self._buffer = bytearray()

    @property
    def buffer(self) -> bytes:
        return bytes(self._buffer)

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self._buffer += data
        return True

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self._buffer:
            if not self._fill():
                raise ConnectionError(f"closed before {marker!r}; got {self.buffer!r}")
        index = self._buffer.index(marker)
        head = bytes(self._buffer[:index])
        del self._buffer[: index + len(marker)]
        return head

    def _read_exact(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if not self._fill():
                raise ConnectionError(f"closed after {len(self._buffer)} of {size} bytes")
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def read_response(self, head_request: bool = False) -> RawResponse:
        lines = self._read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        version, status, *reason = lines[0].split(" ", 2)
        assert version == "HTTP/1.1", lines[0]
        response = RawResponse(int(status), reason[0] if reason else "")
        for line in lines[1:]:
            name, _, value = line.partition(":")
            response.headers.append((name, value.strip()))
        if head_request or response.status < 200 or response.status in (204, 304):
            return response
        if (response.header("transfer-encoding") or "").lower() == "chunked":
            response.body = self._read_chunked()
        elif response.header("content-length") is not None:
            response.body = self._read_exact(int(response.header("content-length") or 0))
        else:
            response.body = self.read_until_closed()
        return response

    def _read_chunked(self) -> bytes:
        body = b""
        while True:
            size = int(self._read_until(b"\r\n").split(b";")[0], 16)
            if size == 0:
                while self._read_until(b"\r\n"):
                    pass  # trailer fields, up to the empty line
                return body
            body += self._read_exact(size)
            assert self._read_exact(2) == b"\r\n"

    def read_until_closed(self) -> bytes:
        try:
            while self._fill():
                pass
        except ConnectionResetError:
            pass
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    def is_closed(self, timeout: float = 5.0) -> bool:
        """True when the server closes the connection within ``timeout`` (no data expected)."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
        self._buffer += data
        return not data

    def nothing_received(self, within: float) -> bool:
        """No byte arrives within ``within`` seconds (the socket stays open)."""
        self.sock.settimeout(within)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return True
        finally:
            self.sock.settimeout(10.0)
        self._buffer += data
        return False


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
