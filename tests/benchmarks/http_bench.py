"""HTTP/1.1 benchmarks: hello world at -c1 and -c50, bodies, memory and start-up, every server.

    .venv/bin/python tests/benchmarks/http_bench.py [--duration 4] [--rounds 3] [--servers ...]

Per round, each server in turn (interleaved, so a noisy minute hits every server alike) is
started pinned to CPU 0 and loaded from CPU 1:

* start-up: spawn to first ``200`` on ``GET /``;
* hello world: ``wrk -t1 -c1`` and ``wrk -t1 -c50 --latency`` (requests/s, p99 latency);
* RSS after the hello-world load (server and its worker processes);
* 1 MiB POST echo: ``wrk -t1 -c4`` with ``post_1mib.lua`` (MiB/s of request body echoed);
* 100 MiB streamed response in 1 MiB messages: ``curl`` (MiB/s);
* 100 MiB file: ``http.response.pathsend`` where the server offers it, else read and sent
  by the app (MiB/s).

The two body rows are measured apart, with every server of the round running side by
side: one ``curl`` download from each server in turn (the order reversed every other
pass), a first pass thrown away as a warm-up, then ``--tries`` passes; a server's figure
is the median of its tries. A 100 MiB transfer lasts about 20 ms at 5 GB/s, so the load
that other processes put on the two CPUs changes from one transfer to the next: when each
server ran its downloads alone, in its own second, keeping the best of 3, the same code
measured 0.4x to 2.5x uvicorn from round to round. Alternating puts every server under the
same moments' load, and the median ignores the few transfers a burst of other work slowed
or a quiet moment sped up (the best of many is the luckiest 20 ms of each server and
swings almost as much): the per-round ratio then mostly stays within 10 to 25%.

Results go to ``results/http.json``; ``report.py`` turns them into tables and plots.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _peers import (  # noqa: E402
    ALL_SERVERS,
    HERE,
    RESULTS,
    Server,
    load,
    median,
    save_results,
    setup_logging,
    versions,
)

logger = logging.getLogger("bench.http")
MIB = 1024 * 1024

# Row key -> (title, unit, higher is better)
ROWS = {
    "hello_c50": ("HTTP/1.1 hello, wrk -t1 -c50", "requests/s", True),
    "hello_c50_p99": ("HTTP/1.1 hello, wrk -c50, p99 latency", "ms", False),
    "hello_c1": ("HTTP/1.1 hello, wrk -t1 -c1", "requests/s", True),
    "post_1mib": ("1 MiB POST echo, wrk -c4", "MiB/s", True),
    "stream_100mib": ("{mib} MiB streamed response (curl)", "MiB/s", True),
    "file_100mib": ("{mib} MiB file, pathsend where offered (curl)", "MiB/s", True),
    "rss_after_load": ("RSS after the hello-world load", "MB", False),
    "startup": ("start-up to first 200", "ms", False),
}


def wrk(url: str, duration: float, connections: int, script: str | None = None) -> dict[str, float]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency"]
    if script:
        command += ["-s", str(HERE / script)]
    out = load([*command, url], timeout=duration + 60)
    problems = re.search(r"Non-2xx or 3xx responses: \d+|Socket errors: .*", out)
    if problems:
        logger.warning("  %s: %s", url, problems.group(0))
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return {
        "rate": float(rate.group(1)) if rate else 0.0,
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else 0.0,
    }


def curl_mib_s(url: str) -> tuple[float, bool]:
    """One download: MiB/s, and whether the server answered ``x-pathsend: 1``."""
    out = load(
        ["curl", "-s", "-o", "/dev/null", "-D", "-", "-w", "speed=%{speed_download}\n", url],
        timeout=120,
    )
    speed = re.search(r"speed=([\d.]+)", out)
    return (float(speed.group(1)) / MIB if speed else 0.0), bool(
        re.search(r"x-pathsend: 1", out, re.IGNORECASE)
    )


def body_rows(names: list[str], tries: int, mib: int) -> dict[str, dict[str, Any]]:
    """The streamed and file rows of every server in ``names``, all running at once and
    downloaded from in turn (see the module docstring); servers that fail to start are
    left out."""
    servers: list[Server] = []
    results: dict[str, dict[str, Any]] = {}
    try:
        for name in names:
            try:
                servers.append(Server(name, file_mib=mib))
            except (RuntimeError, OSError) as exc:
                logger.error("%s failed to start for the body rows: %s", name, exc)
        for key, path in (("stream_100mib", f"/stream?mib={mib}"), ("file_100mib", "/file")):
            speeds: dict[str, list[float]] = {server.name: [] for server in servers}
            for attempt in range(tries + 1):  # pass 0 is the warm-up
                for server in servers if attempt % 2 else servers[::-1]:
                    speed, pathsend = curl_mib_s(server.url + path)
                    if attempt:
                        speeds[server.name].append(speed)
                    if key == "file_100mib":
                        results.setdefault(server.name, {})["pathsend"] = pathsend
            for name, values in speeds.items():
                results.setdefault(name, {})[key] = median(values)
    finally:
        for server in servers:
            server.stop()
    return results


def one_server(name: str, duration: float, mib: int) -> dict[str, Any]:
    with Server(name, file_mib=mib) as server:
        url = server.url
        result: dict[str, Any] = {"startup": server.startup_s * 1000}
        wrk(url + "/", 1, 50)  # warm-up
        result["hello_c1"] = wrk(url + "/", duration, 1)["rate"]
        c50 = wrk(url + "/", duration, 50)
        result["hello_c50"], result["hello_c50_p99"] = c50["rate"], c50["p99_ms"]
        result["rss_after_load"] = server.rss_kib() / 1024 * 1.048576  # MiB -> MB
        result["post_1mib"] = wrk(url + "/echo", duration, 4, "post_1mib.lua")["rate"]
    return result


def run(servers: list[str], rounds: int, duration: float, tries: int, mib: int) -> dict[str, Any]:
    values: dict[str, dict[str, list[float]]] = {key: {s: [] for s in servers} for key in ROWS}
    pathsend: dict[str, bool] = {}
    for round_no in range(1, rounds + 1):
        for name in servers:
            try:
                result = one_server(name, duration, mib)
            except (RuntimeError, OSError) as exc:
                logger.error("round %d %s failed: %s", round_no, name, exc)
                continue
            for key, value in result.items():
                values[key][name].append(value)
            logger.info(
                "round %d %-9s c50 %8.0f/s p99 %6.2f ms  c1 %7.0f/s  post %5.0f MiB/s  "
                "rss %4.0f MB  start %4.0f ms",
                round_no, name, result["hello_c50"], result["hello_c50_p99"],
                result["hello_c1"], result["post_1mib"], result["rss_after_load"],
                result["startup"],
            )  # fmt: skip
        try:
            bodies = body_rows(servers, tries, mib)
        except (RuntimeError, OSError) as exc:
            logger.error("round %d body rows failed: %s", round_no, exc)
            continue
        for name, result in bodies.items():
            pathsend[name] = result.pop("pathsend", False)
            for key, value in result.items():
                values[key][name].append(value)
            logger.info(
                "round %d %-9s stream %5.0f  file %5.0f MiB/s (median of %d)",
                round_no, name, result.get("stream_100mib", 0.0),
                result.get("file_100mib", 0.0), tries,
            )  # fmt: skip
    rows = [
        {"key": key, "title": title.format(mib=mib), "unit": unit, "higher_is_better": better,
         "values": values[key]}
        for key, (title, unit, better) in ROWS.items()
    ]  # fmt: skip
    return {"bench": "http", "rounds": rounds, "duration_s": duration, "rows": rows,
            "pathsend": pathsend}  # fmt: skip


def main() -> int:
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--tries", type=int, default=15, help="downloads per body row and server, after a warm-up"
    )
    parser.add_argument("--mib", type=int, default=100, help="size of the streamed body and file")
    parser.add_argument("--servers", default=",".join(ALL_SERVERS))
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for http.json")
    args = parser.parse_args()
    servers = args.servers.split(",")
    payload = run(servers, args.rounds, args.duration, args.tries, args.mib)
    payload["versions"] = versions(servers)
    logger.info("wrote %s", save_results("http", payload, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
