"""Operations benchmarks: hello world with 1 and 2 workers, with metrics on and off, and
two SIGHUP reloads under wrk load.

    .venv/bin/python tests/benchmarks/ops_bench.py               # full: ~5 minutes
    .venv/bin/python tests/benchmarks/ops_bench.py --duration 1 --rounds 1 --reload-s 6 \\
        --requests 300 --out /tmp/ops --no-write                  # smoke: ~1 minute

* workers: ``wrk -t2 -c64`` against one process and against ``--workers 2``, server and
  wrk not pinned (two workers need both CPUs; wrk shares them), rounds interleaved.
* metrics: ``wrk -t1 -c50`` against one process pinned to CPU 0 (wrk on CPU 1), with and
  without ``--metrics-endpoint``, rounds interleaved; the figure is on/off.
* instructions: the same server under ``valgrind --tool=callgrind`` (``PYTHONHASHSEED=0``),
  counters zeroed after a 200-request warm-up, then ``h2load --h1 -n 20000 -c 1``: the
  instructions the server executed per request, metrics off and on. Unlike the rate and
  the CPU time these counts do not depend on what else the machine runs; one-off work in
  the window (a full GC pass, timers) still moves them by a point or two, less the more
  requests are counted.
* reload: ``wrk -t1 -c50`` for ``--reload-s`` seconds against ``--workers 2`` with a
  SIGHUP at a quarter and at 60 % of the run; wrk's socket errors and non-2xx answers are
  the failed requests, the supervisor's log gives the time each reload took.

Writes ``results/ops.json`` and (unless ``--no-write``) the ``## Operations`` section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _peers import (  # noqa: E402
    APP,
    REPO,
    RESULTS,
    SERVER_CPU,
    asgid_bin,
    cpu_seconds,
    free_port,
    load,
    median,
    save_results,
    setup_logging,
    write_section,
)

logger = logging.getLogger("bench.ops")


class Asgid:
    """An asgid process with extra flags, ready once it sent READY=1 (every worker up);
    its log goes to a file for the reload figures."""

    def __init__(
        self, *flags: str, cpus: str | None = None, wrapper: Sequence[str] = (), ready_s: float = 30
    ) -> None:
        self.port = free_port()
        self.log = Path(tempfile.mkstemp(prefix="asgid-ops-", suffix=".log")[1])
        command = [*wrapper, asgid_bin(), "-e", f"tcp:{self.port}:interface=127.0.0.1", *flags, APP]
        if cpus is not None:
            command = ["taskset", "-c", cpus, *command]
        notify_path = str(self.log) + ".notify"
        env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{REPO}",
               "NOTIFY_SOCKET": notify_path, "PYTHONHASHSEED": "0"}  # fmt: skip
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(notify_path)
        self.notify.settimeout(ready_s)
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(command, cwd=str(REPO), env=env, stderr=log,
                                         stdout=subprocess.DEVNULL)  # fmt: skip
        while self.notify.recv(4096) != b"READY=1":
            pass
        # Keep reading (STATUS=, WATCHDOG=...) so the sender never finds the queue full.
        threading.Thread(target=self._drain_notify, daemon=True).start()

    def _drain_notify(self) -> None:
        try:
            while True:
                self.notify.recv(4096)
        except OSError:
            return

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_log(self, needle: str, timeout: float, count: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while self.text().count(needle) < count:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"asgid: no {needle!r}:\n{self.text()[-2000:]}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.notify.close()
        Path(str(self.log) + ".notify").unlink(missing_ok=True)
        self.log.unlink(missing_ok=True)


def wrk(url: str, seconds: float, connections: int, threads: int, pin: bool) -> dict[str, Any]:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", url]
    if pin:
        out = load(command, timeout=seconds + 60)
    else:
        out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rate": float(rate.group(1)) if rate else 0.0,
        "requests": int(total.group(1)) if total else 0,
        "socket_errors": sum(map(int, errors.groups())) if errors else 0,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
    }


def workers(rounds: int, seconds: float) -> dict[str, float]:
    rates: dict[str, list[float]] = {"1 process": [], "2 workers": []}
    for _ in range(rounds):
        for name, flags in (("1 process", ()), ("2 workers", ("--workers", "2"))):
            server = Asgid("-v", "0", *flags)
            try:
                wrk(server.url, 1, 64, 2, pin=False)  # warm-up
                rates[name].append(wrk(server.url, seconds, 64, 2, pin=False)["rate"])
            finally:
                server.stop()
            logger.info("  %s: %.0f requests/s", name, rates[name][-1])
    return {name: median(values) for name, values in rates.items()}


def metrics(rounds: int, seconds: float) -> dict[str, float]:
    """Requests/s, and server CPU time per request, which other load on the machine moves
    far less than the rate (a busy machine takes CPU away, not adds work per request)."""
    found: dict[str, list[float]] = {}
    on = ("--metrics-endpoint", f"tcp:{free_port()}:interface=127.0.0.1")
    for _ in range(rounds):
        for name, flags in (("metrics off", ()), ("metrics on", on)):
            server = Asgid("-v", "0", *flags, cpus=SERVER_CPU)
            try:
                wrk(server.url, 1, 50, 1, pin=True)
                cpu_before = cpu_seconds(server.proc.pid)
                result = wrk(server.url, seconds, 50, 1, pin=True)
                cpu = cpu_seconds(server.proc.pid) - cpu_before
            finally:
                server.stop()
            found.setdefault(name, []).append(result["rate"])
            per_request = cpu / result["requests"] * 1e6 if result["requests"] else 0.0
            found.setdefault(name + " cpu_us", []).append(per_request)
            logger.info("  %s: %.0f requests/s, %.1f µs CPU/request", name, result["rate"],
                        per_request)  # fmt: skip
    return {name: median(values) for name, values in found.items()}


def instructions(requests: int) -> dict[str, float]:
    """Instructions the server executes per hello-world request, metrics off and on,
    counted by callgrind over ``requests`` HTTP/1.1 keep-alive requests from one client."""
    found: dict[str, float] = {}
    on = ("--metrics-endpoint", f"tcp:{free_port()}:interface=127.0.0.1")
    for name, flags in (("metrics off", ()), ("metrics on", on)):
        out = Path(tempfile.mkdtemp(prefix="asgid-callgrind-"))
        wrapper = ("valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/callgrind.%p")
        server = Asgid("-v", "0", *flags, wrapper=wrapper, ready_s=600)
        try:
            h2load(server.url, 200)
            callgrind_control("-z", server.proc.pid)
            h2load(server.url, requests)
            callgrind_control("-d", server.proc.pid)
        finally:
            server.stop()
        dump = next(out.glob("callgrind.*.1"))
        summary = re.search(r"^summary: (\d+)", dump.read_text(errors="replace"), re.MULTILINE)
        found[name] = int(summary.group(1)) / requests if summary else 0.0
        shutil.rmtree(out, ignore_errors=True)
        logger.info("  %s: %.0f instructions/request", name, found[name])
    return found


def h2load(url: str, requests: int) -> None:
    command = ["h2load", "--h1", "-n", str(requests), "-c", "1", url]
    out = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True).stdout
    if f"{requests} succeeded" not in out:
        raise RuntimeError(f"h2load: not every request succeeded:\n{out[-1000:]}")


def callgrind_control(action: str, pid: int) -> None:
    subprocess.run(["callgrind_control", action, str(pid)], capture_output=True, check=True,
                   timeout=120)  # fmt: skip


def reload_under_load(seconds: float) -> dict[str, Any]:
    server = Asgid("-v", "1", "--access-log", "/dev/null", "--workers", "2")
    try:
        sent: list[float] = []

        def reloads() -> None:
            for number, at in enumerate((seconds * 0.25, seconds * 0.6)):
                # A SIGHUP during a reload restarts that reload: let each one finish.
                server.wait_log("reload complete", seconds, count=number)
                time.sleep(max(0.0, at - (time.monotonic() - started)))
                sent.append(time.monotonic())
                server.proc.send_signal(signal.SIGHUP)

        started = time.monotonic()
        thread = threading.Thread(target=reloads)
        thread.start()
        result = wrk(server.url, seconds, 50, 1, pin=False)
        thread.join()
        server.wait_log("reload complete", 30, count=2)
        log = server.text()
    finally:
        server.stop()
    result["reloads"] = log.count("reload complete")
    result["reload_s"] = _reload_durations(log)
    return result


def _reload_durations(log: str) -> list[float]:
    """Seconds from each 'SIGHUP: replacing' line to its 'reload complete' line."""
    stamps = re.findall(r"^(\S+ \S+) .*(SIGHUP: replacing|reload complete)", log, re.MULTILINE)
    begun: float | None = None
    durations = []
    for stamp, what in stamps:
        at = time.mktime(time.strptime(stamp.split(",")[0], "%Y-%m-%d %H:%M:%S"))
        at += int(stamp.split(",")[1]) / 1000
        if what.startswith("SIGHUP"):
            begun = at
        elif begun is not None:
            durations.append(round(at - begun, 2))
            begun = None
    return durations


def section(payload: dict[str, Any]) -> str:
    w, m, r, i = payload["workers"], payload["metrics"], payload["reload"], payload["instructions"]
    ratio = m["metrics on"] / m["metrics off"] if m["metrics off"] else 0.0
    before, after = payload["load_average"]
    return f"""Measured {payload["date"]} on {payload["machine"]} by `tests/benchmarks/ops_bench.py`
(see docs/operations.md), 1-minute load average {before} before and {after} after the run.
Hello world from `bench_app.py`, median of the rounds.

| workload | requests/s |
|---|---:|
| 1 process, `wrk -t2 -c64` | {w["1 process"]:.0f} |
| `--workers 2`, `wrk -t2 -c64` (server and wrk share both CPUs) | {w["2 workers"]:.0f} |
| 1 process pinned, metrics off, `wrk -t1 -c50` | {m["metrics off"]:.0f} |
| 1 process pinned, `--metrics-endpoint`, `wrk -t1 -c50` | {m["metrics on"]:.0f} \
({ratio:.1%} of off) |

Server CPU time per request (less moved by other load than the rate): metrics off \
{m["metrics off cpu_us"]:.1f} µs, on {m["metrics on cpu_us"]:.1f} µs \
({m["metrics on cpu_us"] / max(m["metrics off cpu_us"], 1e-9) - 1:+.1%}).
Instructions the server executes per request under callgrind, which other load does not
move (`h2load --h1 -n {payload["requests"]} -c 1`): metrics off {i["metrics off"]:.0f}, on \
{i["metrics on"]:.0f} ({i["metrics on"] / max(i["metrics off"], 1e-9) - 1:+.1%}).

Two SIGHUP reloads of `--workers 2` under `wrk -t1 -c50 -d{payload["reload_s"]:.0f}s`:
{r["requests"]} requests ({r["rate"]:.0f}/s), {r["socket_errors"]} socket errors
(refused, reset or timed out), {r["non_2xx"]} non-2xx answers; each reload took
{", ".join(f"{d:.1f}" for d in r["reload_s"])} s from SIGHUP to the last old worker draining.
"""


def main() -> int:
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--reload-s", type=float, default=20.0, help="reload run length")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--no-write", action="store_true", help="leave docs/ alone")
    parser.add_argument("--metrics-only", action="store_true", help="only metrics on/off")
    parser.add_argument("--instructions-only", action="store_true",
                        help="only callgrind instructions/request, metrics on/off")  # fmt: skip
    parser.add_argument("--requests", type=int, default=20000, help="requests under callgrind")
    args = parser.parse_args()
    if args.metrics_only or args.instructions_only:
        measure = metrics(args.rounds, args.duration) if args.metrics_only else {}
        if args.instructions_only:
            measure = instructions(args.requests)
        for name, figure in measure.items():
            logger.info("%s: %.1f", name, figure)
        return 0
    logger.info("workers: 1 process vs --workers 2")
    load_before = os.getloadavg()[0]
    payload: dict[str, Any] = {"workers": workers(args.rounds, args.duration)}
    logger.info("metrics: off vs on")
    payload["metrics"] = metrics(args.rounds, args.duration)
    logger.info("metrics: instructions per request under callgrind")
    payload["instructions"] = instructions(args.requests)
    payload["requests"] = args.requests
    logger.info("reload: two SIGHUPs under load")
    payload["reload"] = reload_under_load(args.reload_s)
    payload["reload_s"] = args.reload_s
    # Other work on the machine moves these figures a lot: say how busy it was.
    payload["load_average"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]
    path = save_results("ops", payload, args.out)
    logger.info("results in %s", path)
    payload = {**payload, **_dated(path)}
    text = section(payload)
    logger.info("\n%s", text)
    if not args.no_write:
        write_section("Operations", text)
    return 0


def _dated(path: Path) -> dict[str, Any]:
    import json

    saved: dict[str, Any] = json.loads(path.read_text())
    return {"date": saved["date"], "machine": saved["machine"]}


if __name__ == "__main__":
    raise SystemExit(main())
