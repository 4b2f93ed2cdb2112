"""``make attacks``: each attack against a new asgid while a legitimate HTTP/2 client on
another connection measures its requests/s; prints a Markdown table.

Bounded (``--seconds`` per attack, default 10) and loopback only. The table gives how
the attacker was cut off and after how much work, the server's peak RSS and mean CPU
during the attack, and the legitimate client's requests/s as a share of its rate measured
just before that attack with no attack running (so slow drifts in machine load cancel).
The server runs on CPU 0, the clients on CPU 1, the attacker at the lowest priority.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.attacks.attacks import H2_ATTACKS, TLS_ATTACKS, Outcome  # noqa: E402
from tests.support.server import AsgidProcess  # noqa: E402
from tests.support.tls_certs import TLSFiles  # noqa: E402

logger = logging.getLogger("attacks")


@dataclass
class Row:
    name: str
    outcomes: list[Outcome] = field(default_factory=list)
    rss_mb: float = 0.0
    cpu_percent: float = 0.0
    legit_rps: float = 0.0
    baseline_rps: float = 0.0  # the same client just before this attack, unattacked
    # CPU shares (of one core) of the legit client, unattacked and attacked, and of the
    # attacker: with both clients on CPU 1, they tell whether the client side was the limit.
    legit_cpu: tuple[float, float] = (0.0, 0.0)
    attacker_cpu: float = 0.0
    cost_ms: float = 0.0  # server CPU per attacker connection, measured alone


class Sampler(threading.Thread):
    """RSS and CPU of the server process every 0.2 s until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.rss: list[int] = []
        self.cpu: list[float] = []
        self.stop_event = threading.Event()
        self.process.cpu_percent(None)

    def run(self) -> None:
        while not self.stop_event.wait(0.2):
            self.rss.append(self.process.memory_info().rss)
            self.cpu.append(self.process.cpu_percent(None))


def legit_rate(client: httpx.Client, url: str, seconds: float) -> tuple[float, float]:
    """Sequential GETs over one HTTP/2 connection: requests per second, and the share of a
    core this thread used meanwhile."""
    done = 0
    started, cpu = time.monotonic(), time.thread_time()
    while time.monotonic() - started < seconds:
        client.get(url)
        done += 1
    elapsed = time.monotonic() - started
    return done / elapsed, (time.thread_time() - cpu) / elapsed


def _attack_loop(attack: Callable[[int], Outcome], port: int, stop: Any, results: Any) -> None:
    """In its own process, so the attacker does not share the legit client's interpreter;
    at the lowest priority, so on one machine it does not take the legit client's CPU (a
    real attacker brings its own machine)."""
    os.nice(19)
    while not stop.is_set():
        outcome = attack(port)
        results.put((outcome.cut_off, outcome.work))


def run_attack(
    server: AsgidProcess, name: str, attack: Callable[[int], Outcome], port: int, seconds: float
) -> Row:
    url = server.url + "/"
    # One connection for both measures, opened before the attack: the legitimate client is
    # an established connection the attacker's connections do not share.
    with httpx.Client(http1=False, http2=True, timeout=10) as client:
        client.get(url)
        row = Row(name)
        row.baseline_rps, unattacked_cpu = legit_rate(client, url, seconds)
        context = multiprocessing.get_context("fork")
        stop = context.Event()
        results = context.Queue()
        attacker = context.Process(target=_attack_loop, args=(attack, port, stop, results))
        sampler = Sampler(server.proc.pid)
        sampler.start()
        attacker.start()
        assert attacker.pid is not None
        attacker_process = psutil.Process(attacker.pid)
        started = time.monotonic()
        row.legit_rps, attacked_cpu = legit_rate(client, url, seconds)
        row.legit_cpu = (unattacked_cpu, attacked_cpu)
        times = attacker_process.cpu_times()
        row.attacker_cpu = (times.user + times.system) / (time.monotonic() - started)
    stop.set()
    attacker.join(30)
    if attacker.is_alive():
        attacker.kill()
    sampler.stop_event.set()
    sampler.join()
    while not results.empty():
        row.outcomes.append(Outcome(*results.get()))
    row.rss_mb = max(sampler.rss, default=0) / 2**20
    row.cpu_percent = statistics.mean(sampler.cpu) if sampler.cpu else 0.0
    return row


def server_cost(
    attack: Callable[[int], Outcome], over_tls: bool, tls: TLSFiles, seconds: float = 3.0
) -> float:
    """Server CPU milliseconds per attacker connection: attacker connections one after
    another (up to 50, or ``seconds``) against a server of their own with nothing else to
    do and the flood penalty off (it would only make them wait). CPU time, not a rate: it
    holds steady on a busy machine."""
    server = _start_server(tls, "--flood-penalty-max", "0")
    try:
        _pin(server.proc.pid)
        port = _tls_port(server) if over_tls else server.port
        attack(port)  # the first connection pays for imports and warm-up
        process = psutil.Process(server.proc.pid)
        before, done, started = process.cpu_times(), 0, time.monotonic()
        while done < 50 and time.monotonic() - started < seconds:
            attack(port)
            done += 1
        after = process.cpu_times()
    finally:
        server.stop()
    cpu_s: float = after.user + after.system - before.user - before.system
    return cpu_s * 1000 / done


def _start_server(tls: TLSFiles, *args: str) -> AsgidProcess:
    server = AsgidProcess(
        "tests.apps.h2:app",
        "--access-log", "/dev/null", *args,
        endpoints=["tcp:0:interface=127.0.0.1:backlog=1024", tls.endpoint()],
    )  # fmt: skip
    return server


def _tls_port(server: AsgidProcess) -> int:
    return int(server.addresses[1].rsplit(":", 1)[1])


def table(rows: list[Row]) -> str:
    lines = [
        "| attack | attacker cut off by | work before cut-off (first connection) "
        "| attacker connections | server RSS peak | server CPU "
        "| server CPU per attacker connection (alone) "
        "| legit req/s unattacked, attacked (share) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        first = row.outcomes[0] if row.outcomes else Outcome("n/a", "n/a")
        endings = sorted({o.cut_off for o in row.outcomes})
        share = row.legit_rps / row.baseline_rps * 100 if row.baseline_rps else 0.0
        lines.append(
            f"| {row.name} | {'; '.join(endings)} | {first.work} | {len(row.outcomes)} "
            f"| {row.rss_mb:.0f} MB | {row.cpu_percent:.0f}% | {row.cost_ms:.1f} ms "
            f"| {row.baseline_rps:.0f}, {row.legit_rps:.0f} ({share:.0f}%) |"
        )
    return "\n".join(lines)


def _pin(server_pid: int) -> None:
    """Server on CPU 0, clients (this process and the attacker it forks) on CPU 1."""
    if len(os.sched_getaffinity(0)) >= 2:
        os.sched_setaffinity(server_pid, {0})
        os.sched_setaffinity(0, {1})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per attack (default 10)")
    parser.add_argument("--only", help="run only attacks whose name contains this text")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        tls = TLSFiles(Path(directory))
        attacks = [(n, a, False) for n, a in H2_ATTACKS.items()]
        attacks += [(n, a, True) for n, a in TLS_ATTACKS.items()]
        for name, attack, over_tls in attacks:
            if args.only and args.only.lower() not in name.lower():
                continue
            # A new server for each attack: what one attack leaves behind (the attacker's
            # address remembered as flooding, a grown heap) does not colour the next row.
            server = _start_server(tls)
            try:
                _pin(server.proc.pid)
                port = _tls_port(server) if over_tls else server.port
                row = run_attack(server, name, attack, port, args.seconds)
            finally:
                server.stop()
            row.cost_ms = server_cost(attack, over_tls, tls)
            rows.append(row)
            logger.info(
                "%s: %s; CPU of the legit client %.0f%% unattacked, %.0f%% attacked; "
                "of the attacker %.0f%%", name, row.outcomes[:1], row.legit_cpu[0] * 100,
                row.legit_cpu[1] * 100, row.attacker_cpu * 100,
            )  # fmt: skip
    logger.info("%s", table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
