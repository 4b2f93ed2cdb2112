"""HTTP/1.1 hello-world throughput: asgid beside daphne and uvicorn in the same run.

    .venv/bin/python tests/benchmarks/http_bench.py [--duration 10] [--rounds 3] [--soak 60]

Each server serves ``examples.hello:app`` pinned to CPU 0; ``wrk -t1 -c50`` (keep-alive)
runs pinned to CPU 1. Servers take turns, round after round, and the median requests/s
of the rounds is reported with ratios. ``--soak`` also loads asgid for that many seconds
and reports its RSS before and after, to show memory stays flat.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _peers import (  # noqa: E402
    free_port,
    median,
    peers_bin,
    rss_kib,
    start,
    stop,
    write_section,
)

APP = "examples.hello:app"


def commands(port: int) -> dict[str, list[str]]:
    asgid = str(Path(sys.executable).with_name("asgid"))
    return {
        "asgid": [asgid, "-e", f"tcp:{port}:interface=127.0.0.1", "-v", "0", "--loop", "auto", APP],
        "uvicorn": [
            peers_bin("uvicorn"),
            APP,
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        "daphne": [peers_bin("daphne"), "-b", "127.0.0.1", "-p", str(port), "-v", "0", APP],
    }


def wrk(port: int, duration: int, connections: int = 50) -> float:
    out = subprocess.run(
        [
            "taskset",
            "-c",
            "1",
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            f"http://127.0.0.1:{port}/",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 30,
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if errors:
        print(f"  warning: {errors.group(0)}", file=sys.stderr)
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(match.group(1)) if match else 0.0


def run_round(name: str, duration: int) -> float:
    port = free_port()
    proc = start(commands(port)[name], port)
    try:
        wrk(port, 2)  # warm-up
        return wrk(port, duration)
    finally:
        stop(proc)


def soak(seconds: int) -> tuple[int, int]:
    port = free_port()
    proc = start(commands(port)["asgid"], port)
    try:
        wrk(port, 3)
        before = rss_kib(proc.pid)
        wrk(port, seconds)
        return before, rss_kib(proc.pid)
    finally:
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--soak", type=int, default=0, help="seconds of load to watch asgid's RSS")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    results: dict[str, list[float]] = {"asgid": [], "uvicorn": [], "daphne": []}
    for round_no in range(args.rounds):
        for name in results:
            rps = run_round(name, args.duration)
            results[name].append(rps)
            print(f"round {round_no + 1}: {name:8s} {rps:10.0f} req/s", flush=True)
    med = {name: median(values) for name, values in results.items()}
    lines = [
        "Hello world (`examples/hello.py`), `wrk -t1 -c50` keep-alive, "
        f"{args.duration} s per run, median of {args.rounds} rounds; each server pinned to "
        "CPU 0, wrk to CPU 1, all in the same run. Command: "
        "`.venv/bin/python tests/benchmarks/http_bench.py`.",
        "",
        "| server | requests/s (median) | runs | asgid ratio |",
        "|---|---:|---|---:|",
    ]
    for name, value in med.items():
        runs = ", ".join(f"{v:.0f}" for v in results[name])
        ratio = med["asgid"] / value if value else 0.0
        lines.append(f"| {name} | {value:.0f} | {runs} | {ratio:.2f}x |")
    if args.soak:
        before, after = soak(args.soak)
        lines += [
            "",
            f"Memory under {args.soak} s of load: asgid RSS {before / 1024:.1f} MiB "
            f"before, {after / 1024:.1f} MiB after ({(after - before) / 1024:+.1f} MiB).",
        ]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section("HTTP/1.1", table)


if __name__ == "__main__":
    main()
