"""``make soak``: steady mixed load against one asgid process, sampling its memory and
descriptors, to show that neither grows.

Load: HTTP/1.1 keep-alive GETs, HTTP/2 GETs, 256 KiB uploads on fresh connections, and
WebSocket churn (connect, echo, close), each from its own process. Every ``--interval``
seconds the server's RSS and open descriptors go to a CSV (and at the end to a PNG when
matplotlib is installed: the ``bench`` extra). After the load stops the descriptors must
return to their count before it began, and RSS must grow less than ``--max-growth-mb``
between the end of the warm-up and the end of the run. Exit status 1 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import logging
import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.server import AsgidProcess  # noqa: E402

logger = logging.getLogger("soak")
RESULTS = Path(__file__).resolve().parent / "results"
UPLOAD = b"u" * 256 * 1024


def http1(url: str, stop: Any, done: Any) -> None:
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            client.get(url + "/")
            done.value += 1


def http2(url: str, stop: Any, done: Any) -> None:
    with httpx.Client(http1=False, http2=True, timeout=10) as client:
        while not stop.is_set():
            client.get(url + "/")
            done.value += 1


def uploads(url: str, stop: Any, done: Any) -> None:
    while not stop.is_set():
        with httpx.Client(timeout=10) as client:  # a fresh connection each time
            assert client.post(url + "/echo", content=UPLOAD).content == UPLOAD
        done.value += 1


def websockets_churn(url: str, stop: Any, done: Any) -> None:
    from websockets.sync.client import connect

    ws_url = url.replace("http://", "ws://") + "/echo"
    while not stop.is_set():
        with connect(ws_url) as ws:
            ws.send("ping")
            assert ws.recv(timeout=10) == "ping"
        done.value += 1


LOADS: dict[str, Callable[[str, Any, Any], None]] = {
    "http1": http1, "http2": http2, "uploads": uploads, "websockets": websockets_churn,
}  # fmt: skip


@dataclass
class Sample:
    elapsed_s: float
    rss_mb: float
    fds: int


def _sample(process: psutil.Process, started: float) -> Sample:
    return Sample(
        round(time.monotonic() - started, 1),
        round(process.memory_info().rss / 2**20, 2),
        process.num_fds(),
    )


def soak(
    seconds: float, interval: float, warmup: float, loads: list[str]
) -> tuple[list[Sample], int, int]:
    """Run the load; return the samples, the descriptors before and after the load."""
    server = AsgidProcess(
        "tests.apps.h2:app", "--access-log", "/dev/null",
        endpoints=["tcp:0:interface=127.0.0.1:backlog=1024"],
    )  # fmt: skip
    try:
        process = psutil.Process(server.proc.pid)
        httpx.get(server.url + "/")
        fds_before = process.num_fds()
        context = multiprocessing.get_context("fork")
        stop = context.Event()
        counts = {name: context.Value("q", 0, lock=False) for name in loads}
        workers = [
            context.Process(
                target=LOADS[name], args=(server.url, stop, counts[name]), name=name, daemon=True
            )
            for name in loads
        ]
        for worker in workers:
            worker.start()
        started = time.monotonic()
        samples = [_sample(process, started)]
        next_at = started + min(interval, warmup)
        while time.monotonic() < started + seconds:
            time.sleep(max(0.0, min(next_at, started + seconds) - time.monotonic()))
            samples.append(_sample(process, started))
            logger.info("%6.0fs  RSS %.1f MB  fds %d", *vars(samples[-1]).values())
            next_at += interval
        stop.set()
        for worker in workers:
            worker.join(30)
            if worker.exitcode != 0:
                raise RuntimeError(f"load {worker.name} failed (exit {worker.exitcode})")
        deadline = time.monotonic() + 15
        while process.num_fds() > fds_before and time.monotonic() < deadline:
            time.sleep(0.1)
        fds_after = process.num_fds()
        logger.info("done: %s", ", ".join(f"{n} {c.value}" for n, c in counts.items()))
    finally:
        server.stop()
    return samples, fds_before, fds_after


def growth_after_warmup(samples: list[Sample], warmup: float) -> float:
    settled = [s for s in samples if s.elapsed_s >= warmup]
    return settled[-1].rss_mb - settled[0].rss_mb if len(settled) >= 2 else 0.0


def write_results(samples: list[Sample], name: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.csv"
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["elapsed_s", "rss_mb", "fds"])
        writer.writerows((s.elapsed_s, s.rss_mb, s.fds) for s in samples)
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        logger.info("matplotlib is not installed (pip install 'asgid[bench]'): no plot")
        return path
    figure, memory = pyplot.subplots(figsize=(8, 4))
    times = [s.elapsed_s / 60 for s in samples]
    memory.plot(times, [s.rss_mb for s in samples], color="tab:blue", label="RSS (MB)")
    memory.set_xlabel("minutes")
    memory.set_ylabel("RSS (MB)")
    descriptors = memory.twinx()
    descriptors.plot(times, [s.fds for s in samples], color="tab:orange", label="open fds")
    descriptors.set_ylabel("open descriptors")
    figure.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(RESULTS / f"{name}.png")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before RSS counts")
    parser.add_argument("--max-growth-mb", type=float, default=2.0)
    parser.add_argument("--name", default="soak", help="file name of the CSV and PNG")
    parser.add_argument(
        "--loads", default=",".join(LOADS), help=f"comma-separated, of {', '.join(LOADS)}"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    loads = args.loads.split(",")
    unknown = set(loads) - set(LOADS)
    if unknown:
        parser.error(f"unknown loads {sorted(unknown)}: choose from {', '.join(LOADS)}")
    samples, fds_before, fds_after = soak(args.seconds, args.interval, args.warmup, loads)
    path = write_results(samples, args.name)
    growth = growth_after_warmup(samples, args.warmup)
    logger.info(
        "RSS grew %.2f MB after the %gs warm-up (limit %g); fds %d before the load, %d after;"
        " samples in %s",
        growth, args.warmup, args.max_growth_mb, fds_before, fds_after, path,
    )  # fmt: skip
    return 0 if growth < args.max_growth_mb and fds_after <= fds_before else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
