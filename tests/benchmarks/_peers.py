"""Shared helpers for the benchmarks: the peer-server venv, server commands, start/stop, results.

Benchmarks are not collected by pytest; ``make bench`` runs them (``run_all.py``). Peer
servers (uvicorn, hypercorn, daphne, granian) live in their own venv,
``tests/benchmarks/.venv-peers``, created on first use, so their Twisted plugins (daphne's)
never mix with asgid's and the project's environment never depends on them. Every server
is pinned to CPU 0 and every load generator to CPU 1 (``taskset``).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PEERS_VENV = HERE / ".venv-peers"
RESULTS = HERE / "results"
PEER_PACKAGES = [
    "daphne",
    "uvicorn[standard]",
    "hypercorn",
    "granian",
    "uvloop",
    "httptools",
]
PYTHON_PEERS = ("uvicorn", "hypercorn", "daphne")  # granian's server is Rust
ALL_SERVERS = ("asgid", "uvicorn", "hypercorn", "daphne", "granian")
APP = "bench_app:app"  # tests/benchmarks/bench_app.py, found through PYTHONPATH
SERVER_CPU = "0"
LOAD_CPU = "1"

logger = logging.getLogger("bench")


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)


def peers_bin(name: str) -> str:
    """Path of a peer's executable, creating the peers venv on first use."""
    if not (PEERS_VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    exe = PEERS_VENV / "bin" / name
    if not exe.exists():
        subprocess.run(
            [str(PEERS_VENV / "bin" / "pip"), "install", "-q", *PEER_PACKAGES], check=True
        )
    return str(exe)


def asgid_bin() -> str:
    return str(Path(sys.executable).with_name("asgid"))


@cache
def asgid_bytecode() -> None:
    """Bring asgid's bytecode up to date before any figure is taken.

    The editable install keeps asgid's modules as source, and with PYTHONDONTWRITEBYTECODE
    set no process writes their bytecode: without this, a source edit since ``make venv``
    would add the compilation of every changed module to each start-up and request figure.
    """
    sources = [str(REPO / "server"), str(REPO / "channel_layers")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *sources], check=True)


def server_command(name: str, port: int, tls: tuple[str, str] | None = None) -> list[str]:
    """How each server is started: one process, uvloop where it offers it, no access log."""
    host = "127.0.0.1"
    if name == "asgid":
        asgid_bytecode()
        kind = f"ssl:{port}:privateKey={tls[1]}:certKey={tls[0]}" if tls else f"tcp:{port}"
        return [asgid_bin(), "-e", f"{kind}:interface={host}", "-v", "0", APP]
    if name == "uvicorn":
        return [
            peers_bin("uvicorn"), APP, "--host", host, "--port", str(port), "--loop", "uvloop",
            "--http", "httptools", "--ws", "websockets-sansio", "--no-access-log",
            "--log-level", "warning",
        ]  # fmt: skip
    if name == "hypercorn":
        tls_args = ["--certfile", tls[0], "--keyfile", tls[1]] if tls else []
        # Hypercorn ends a connection after 1,000 requests by default (h2load and wrk count
        # that as errors); the config file lifts it.
        config = HERE / "hypercorn.toml"
        return [
            peers_bin("hypercorn"), "-b", f"{host}:{port}", "-k", "uvloop", "-c", str(config),
            *tls_args, APP,
        ]  # fmt: skip
    if name == "daphne":
        if tls:
            endpoint = f"ssl:{port}:interface={host}:privateKey={tls[1]}:certKey={tls[0]}"
            return [peers_bin("daphne"), "-v", "0", "-e", endpoint, APP]
        return [peers_bin("daphne"), "-b", host, "-p", str(port), "-v", "0", APP]
    if name == "granian":
        tls_args = ["--ssl-certificate", tls[0], "--ssl-keyfile", tls[1]] if tls else []
        return [
            peers_bin("granian"), "--interface", "asgi", "--host", host, "--port", str(port),
            "--loop", "uvloop", "--no-access-log", "--log-level", "warning", *tls_args, APP,
        ]  # fmt: skip
    raise ValueError(f"unknown server {name!r}; expected one of {', '.join(ALL_SERVERS)}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers_200(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def _tls_listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


class Server:
    """A running server process; ``startup_s`` is the time from spawn to its first 200."""

    def __init__(self, name: str, tls: tuple[str, str] | None = None, file_mib: int = 100) -> None:
        self.name = name
        self.port = free_port()
        env = {
            **os.environ,
            "PYTHONPATH": f"{HERE}{os.pathsep}{REPO}",
            "BENCH_FILE": str(bench_file(file_mib)),
        }
        started = time.monotonic()
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, *server_command(name, self.port, tls)],
            cwd=str(REPO),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        ready = _tls_listening if tls else _answers_200
        deadline = started + 30.0
        while not ready(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {self.proc.returncode} at start-up")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{name} did not answer within 30 s")
            time.sleep(0.005)
        self.startup_s = time.monotonic() - started
        self.pid = self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_kib(self) -> int:
        """RSS of the server and its children (granian serves from a worker process)."""
        return sum(rss_kib(pid) for pid in [self.pid, *children(self.pid)])

    def cpu_s(self) -> float:
        return sum(cpu_seconds(pid) for pid in [self.pid, *children(self.pid)])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (from /proc; taskset execs, so pid is the server)."""
    found: list[int] = []
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as file:
            direct = [int(child) for child in file.read().split()]
    except OSError:
        return found
    for child in direct:
        found += [child, *children(child)]
    return found


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_file(size_mib: int = 100) -> Path:
    """A file of ``size_mib`` MiB for the pathsend workload, made once in results/."""
    path = RESULTS / f"file-{size_mib}mib.bin"
    if not path.exists() or path.stat().st_size != size_mib * 1024 * 1024:
        RESULTS.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as file:
            block = b"y" * (1024 * 1024)
            for _ in range(size_mib):
                file.write(block)
    return path


def load(command: Sequence[str], timeout: float) -> str:
    """Run a load generator pinned to the load CPU; its stdout."""
    out = subprocess.run(
        ["taskset", "-c", LOAD_CPU, *command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if out.returncode:
        raise RuntimeError(f"{command[0]} failed ({out.returncode}): {out.stderr[-400:]}")
    return out.stdout


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} CPUs, Linux {platform.release()}"


def versions(names: Sequence[str]) -> dict[str, str]:
    """Python and the version of every server in ``names``."""
    from importlib.metadata import version

    found = {"python": platform.python_version(), "asgid": version("asgid")}
    found["twisted"] = version("twisted")
    peers = [name for name in names if name != "asgid"]
    if peers:
        script = (
            "import json, sys; from importlib.metadata import version; "
            "print(json.dumps({n: version(n) for n in sys.argv[1:]}))"
        )
        python = str(Path(peers_bin(peers[0])).with_name("python"))
        out = subprocess.run([python, "-c", script, *peers], capture_output=True, text=True)
        if out.returncode == 0:
            found.update(json.loads(out.stdout))
    return found


def save_results(name: str, payload: dict[str, Any], out_dir: Path = RESULTS) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    payload = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "load_average": os.getloadavg()[0],  # other work on the machine skews every figure
        **payload,
    }
    path.write_text(json.dumps(payload, indent=1))
    return path


def write_section(title: str, body: str, path: Path = REPO / "docs" / "benchmarks.md") -> None:
    """Replace (or append) one ``## title`` section of docs/benchmarks.md."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    heading = f"## {title}\n"
    start_at = text.find(heading)
    if start_at == -1:
        text = text.rstrip("\n") + "\n\n" + heading + body.rstrip("\n") + "\n"
    else:
        end_at = text.find("\n## ", start_at + len(heading))
        end_at = len(text) if end_at == -1 else end_at + 1
        text = (
            text[:start_at]
            + heading
            + body.rstrip("\n")
            + "\n"
            + ("\n" + text[end_at:] if end_at < len(text) else "")
        )
    path.write_text(text)
