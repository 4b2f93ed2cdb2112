"""HTTP/2 over TLS: hello-world requests/s with h2load, asgid beside hypercorn, daphne and granian.

    .venv/bin/python tests/benchmarks/h2_bench.py [--duration 4] [--rounds 3] [--servers ...]

Every server serves ``bench_app.py`` over TLS (ALPN h2) pinned to CPU 0;
``h2load -c 10 -m 10`` runs pinned to CPU 1 for ``--duration`` seconds after a one-second
warm-up (``-D``/``--warm-up-time``: every server gets the same time, however slow).
Servers take turns, round after round. A run with failed requests, or not on h2, counts
as an error, not a figure. uvicorn has no HTTP/2. Results go to ``results/h2.json``.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "server"))

from _peers import RESULTS, Server, load, save_results, setup_logging, versions  # noqa: E402
from asgid.certs import write_pair  # noqa: E402

logger = logging.getLogger("bench.h2")
SERVERS = ("asgid", "hypercorn", "daphne", "granian")


def h2load(url: str, duration: float) -> float:
    seconds = max(1, round(duration))
    command = ["h2load", "-c", "10", "-m", "10", "-D", str(seconds), "--warm-up-time", "1", url]
    out = load(command, timeout=seconds + 60)
    done = re.search(r"(\d+) succeeded, (\d+) failed, (\d+) errored", out)
    if not done or int(done.group(2)) or int(done.group(3)) or not int(done.group(1)):
        raise RuntimeError(f"h2load: {done.group(0) if done else out[-300:]}")
    if "h2" not in out.split("Application protocol:")[-1][:8]:
        raise RuntimeError("h2load: the server did not speak h2")
    rate = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out)
    return float(rate.group(1)) if rate else 0.0


def run(servers: list[str], rounds: int, duration: float, tls: tuple[str, str]) -> dict[str, Any]:
    rates: dict[str, list[float]] = {name: [] for name in servers}
    for round_no in range(1, rounds + 1):
        for name in servers:
            try:
                with Server(name, tls=tls) as server:
                    rates[name].append(h2load(f"https://127.0.0.1:{server.port}/", duration))
            except (RuntimeError, OSError) as exc:
                logger.error("round %d %s failed: %s", round_no, name, exc)
                continue
            logger.info("round %d %-9s %8.0f requests/s", round_no, name, rates[name][-1])
    row = {
        "key": "h2_tls",
        "title": "HTTP/2 over TLS, h2load -c 10 -m 10",
        "unit": "requests/s",
        "higher_is_better": True,
        "values": rates,
    }
    return {"bench": "h2", "rounds": rounds, "duration_s": duration, "rows": [row]}


def main() -> int:
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per h2load run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for h2.json")
    args = parser.parse_args()
    servers = args.servers.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = write_pair(Path(tmp))
        payload = run(servers, args.rounds, args.duration, (str(cert), str(key)))
    payload["versions"] = versions(servers)
    logger.info("wrote %s", save_results("h2", payload, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
