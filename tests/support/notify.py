"""A fake systemd ``NOTIFY_SOCKET``: a unix datagram socket whose messages a test reads."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path


class FakeNotifySocket:
    """Collects every sd_notify datagram sent to ``path`` (one message per datagram)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.messages: list[tuple[float, str]] = []  # (monotonic time received, text)
        self._cond = threading.Condition()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.path)
        self._sock.settimeout(0.2)  # lets the reader notice close()
        self._closed = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    @property
    def env(self) -> dict[str, str]:
        return {"NOTIFY_SOCKET": self.path}

    def _read(self) -> None:
        while not self._closed:
            try:
                data = self._sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._cond:
                self.messages.append((time.monotonic(), data.decode()))
                self._cond.notify_all()

    def wait_for(
        self, match: str | Callable[[str], bool], timeout: float = 20.0, start: int = 0
    ) -> int:
        """Index of the first message from ``start`` on that equals or satisfies ``match``."""
        test = match if callable(match) else (lambda text: text == match)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for index in range(start, len(self.messages)):
                    if test(self.messages[index][1]):
                        return index
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {match!r} within {timeout}s: {self.texts()}")
                self._cond.wait(left)

    def texts(self) -> list[str]:
        with self._cond:
            return [text for _, text in self.messages]

    def close(self) -> None:
        self._closed = True
        self._thread.join(2)
        self._sock.close()
