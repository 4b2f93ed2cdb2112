"""Start a real ``asgid`` process on a free port and wait until it says it listens."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"Listening on (\S+)")


class AsgidProcess:
    """One server process; ``output`` holds everything it logged so far (stdout + stderr)."""

    def __init__(
        self,
        app: str,
        *args: str,
        endpoints: Sequence[str] = ("tcp:0:interface=127.0.0.1",),
        env: dict[str, str] | None = None,
        expect_ready: bool = True,
        pass_fds: Sequence[int] = (),
        cwd: Path | None = None,
    ) -> None:
        command = [sys.executable, "-m", "asgid", app, *args]
        for endpoint in endpoints:
            command += ["-e", endpoint]
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO)}
        full_env.update(env or {})
        self.command = command
        self.lines: list[str] = []
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self.addresses: list[str] = []
        self.proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=str(cwd or REPO),
            pass_fds=tuple(pass_fds),
            text=True,
        )
        self._expected = len(endpoints)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if expect_ready:
            try:
                self.wait_ready()
            except BaseException:
                self.kill()
                raise

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(line)
                match = LISTENING.search(line)
                if match:
                    self.addresses.append(match.group(1))
                if "asgid ready" in line or len(self.addresses) >= self._expected > 0:
                    self._ready.set()
        self._ready.set()

    def wait_ready(self, timeout: float = 20.0) -> None:
        if not self._ready.wait(timeout) or self.proc.poll() is not None and not self.addresses:
            raise RuntimeError(f"asgid did not start: {self.command}\n{self.output}")

    def mark(self) -> int:
        """A cursor into the log: pass it as ``since`` to ignore every line logged before."""
        with self._lock:
            return len(self.lines)

    def wait_for(self, text: str, timeout: float = 10.0, *, since: int = 0) -> str:
        """Wait until a line logged after ``since`` (a ``mark()``) contains ``text``; return it.

        A server shared by a module's tests logs for all of them: a test passes the mark it
        took before acting, so a line an earlier test caused cannot satisfy it.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for line in self.lines[since:]:
                    if text in line:
                        return line
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.02)  # polling a log another thread fills; nothing to wait on instead
        raise AssertionError(
            f"{text!r} not logged within {timeout}s (after line {since}):\n{self.output}"
        )

    @property
    def output(self) -> str:
        with self._lock:
            return "".join(self.lines)

    @property
    def port(self) -> int:
        return int(self.addresses[0].rsplit(":", 1)[1])

    @property
    def host(self) -> str:
        host = self.addresses[0].split(":", 1)[1].rsplit(":", 1)[0]
        return host.strip("[]")

    @property
    def url(self) -> str:
        scheme = "https" if self.addresses[0].startswith(("ssl:", "tls:", "https:")) else "http"
        host = self.host
        host = f"[{host}]" if ":" in host else host
        return f"{scheme}://{host}:{self.port}"

    def signal(self, signum: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        if self.proc.stdout is not None and not self._reader.is_alive():
            self.proc.stdout.close()
        return code

    def kill(self) -> None:
        """End the process at once and release its pipe (for a server that failed to start)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.wait()


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    """Run ``asgid`` to completion (for CLI errors and ``--version``)."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO)}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "asgid", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=str(REPO),
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
