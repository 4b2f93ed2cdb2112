"""Benchmark asgid_layers beside channels_redis (core and pubsub), interleaved rounds.

How to run (from the repository root, after ``make venv``)::

    .venv/bin/python tests/benchmarks/layer_bench.py            # ~3 minutes, writes docs
    .venv/bin/python tests/benchmarks/layer_bench.py --quick    # a few seconds, smoke run

The script starts its own ``redis-server`` on a free port (no persistence, temporary
directory) unless ``--redis-url`` is given. With two CPUs or more, redis-server runs on
CPU 1 and the layers on CPU 0, so one does not steal the other's core. channels_redis
is installed once with ``pip install --no-deps --target
tests/benchmarks/.venv-peers/layer-target`` (the git-ignored peers folder): it must run
in this process, on the project's redis-py, so every layer talks to Redis through the
same client library.

Rounds are interleaved: each round runs every workload on every layer, starting with
a different layer each round, so a slow phase of a shared machine hits all layers.
Reported: the median over rounds per cell, and asgid_layers' per-round ratio to each
channels_redis layer as median [min-max]. The full run rewrites the ``## Channel
layer`` section of docs/benchmarks.md (``--no-write`` only prints) and writes every
round's figures to tests/benchmarks/results/layers.json (always, also with
``--no-write``), which report.py turns into plots.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from layer_workloads import Factory, Measure, group_draining, pairs, ping_pong  # noqa: E402

PEERS = HERE / ".venv-peers" / "layer-target"
# Read by report.py for the plots: "results" per round, "rows" with medians. Both
# names, the one report.py reads and the one tests/benchmarks' interface note names.
RESULTS = HERE / "results" / "layers.json"  # read by report.py
OURS, CORE, PUBSUB = "asgid_layers", "channels_redis core", "channels_redis pubsub"
logger = logging.getLogger("layer_bench")


def ensure_peers() -> None:
    """Install channels_redis next to this script once, then import it from there."""
    if not (PEERS / "channels_redis").is_dir():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
            + ["--target", str(PEERS), "channels_redis"],
            check=True,
        )
    sys.path.insert(0, str(PEERS))


def start_redis(workdir: Path, cpu: int | None) -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit("redis-server not found: install it (apt install redis-server)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    pin = ["taskset", "-c", str(cpu)] if cpu is not None and shutil.which("taskset") else []
    proc = subprocess.Popen(
        [*pin, exe, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        + ["--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise SystemExit(f"redis-server did not accept connections on port {port} within 10 s")


def make_factories(url: str) -> dict[str, Factory]:
    from asgid_layers import RedisChannelLayer, RedisPubSubChannelLayer
    from channels_redis.core import RedisChannelLayer as CoreLayer
    from channels_redis.pubsub import RedisPubSubChannelLayer as PubSubLayer

    big = 1_000_000  # no capacity drops: measure speed, not policy
    return {
        OURS: lambda p: RedisChannelLayer(hosts=[url], prefix=p, capacity=big),
        CORE: lambda p: CoreLayer(hosts=[url], prefix=p, capacity=big),
        PUBSUB: lambda p: PubSubLayer(hosts=[url], prefix=p),
        "asgid_layers pubsub": lambda p: RedisPubSubChannelLayer(
            hosts=[url], prefix=p, capacity=big
        ),
    }


@dataclass(frozen=True)
class Workload:
    name: str
    units: tuple[str, ...]
    run: Callable[[Factory], Awaitable[Measure]]


def workloads(quick: bool) -> list[Workload]:
    seconds = 0.1 if quick else 1.5
    big = (100, 3) if quick else (1000, 30)
    small = (10, 5) if quick else (100, 100)
    return [
        Workload("ping-pong, one channel each way", ("round trips/s", "CPU µs per round trip"),
                 lambda f: ping_pong(f, seconds)),
        Workload("10 sender/receiver pairs", ("messages/s",), lambda f: pairs(f, seconds)),
        Workload(f"group_send to {big[0]:,} draining members",
                 ("ms per call", "deliveries/s", "CPU µs per delivery"),
                 lambda f: group_draining(f, *big)),
        Workload(f"group_send to {small[0]:,} draining members", ("ms per call", "deliveries/s"),
                 lambda f: group_draining(f, *small)),
    ]  # fmt: skip


Results = dict[str, dict[str, dict[str, list[float]]]]  # workload -> unit -> layer -> rounds


async def run_rounds(
    factories: dict[str, Factory], rounds: int, quick: bool
) -> tuple[Results, dict[str, int]]:
    names = list(factories)
    results: Results = {}
    lost = dict.fromkeys(names, 0)
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for work in workloads(quick):
            cells = results.setdefault(work.name, {u: {n: [] for n in names} for u in work.units})
            for name in order:
                measure = await work.run(factories[name])
                lost[name] += measure.lost
                for unit in work.units:
                    cells[unit][name].append(measure.values[unit])
                logger.info("round %d  %-38s %-22s %s", r + 1, work.name, name, _fmt(measure))
    return results, lost


def _fmt(measure: Measure) -> str:
    text = ", ".join(f"{v:,.2f} {u}" for u, v in measure.values.items())
    return text + (f", LOST {measure.lost}" if measure.lost else "")


def _cell(value: float) -> str:
    return f"{value:,.2f}" if value < 10 else f"{value:,.0f}"


def ratios(unit: str, ours: Sequence[float], peer: Sequence[float]) -> list[float]:
    """Per-round ratios, above 1 when asgid_layers is better (lower ms, higher rates)."""
    if unit.startswith(("ms", "CPU")):
        return [p / o for o, p in zip(ours, peer, strict=True)]
    return [o / p for o, p in zip(ours, peer, strict=True)]


def _ratio_cell(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}x"
    return f"{statistics.median(values):.2f}x [{min(values):.2f}-{max(values):.2f}]"


def results_json(results: Results, lost: dict[str, int], rounds: int) -> dict[str, Any]:
    """The figures in the shape report.py reads (medians per layer, one row per unit)."""
    import platform

    import redis

    rows = [
        {
            "scenario": work,
            "unit": unit,
            "higher_is_better": not unit.startswith(("ms", "CPU")),
            "values": {name: statistics.median(v) for name, v in cells.items()},
            "rounds": cells,
        }
        for work, units in results.items()
        for unit, cells in units.items()
    ]
    return {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "load_average": os.getloadavg()[0],
        "versions": {"channels_redis": _peer_version(), "redis-py": redis.__version__,
                     "redis-server": _server_version(), "python": platform.python_version()},
        "rounds": rounds,
        "lost": lost,
        "results": results,
        "rows": rows,
    }  # fmt: skip


def _peer_version() -> str:
    found = sorted(PEERS.glob("channels_redis-*.dist-info"))
    return found[0].name.removesuffix(".dist-info").split("-")[1] if found else "?"


def _server_version() -> str:
    out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
    return out.split("v=")[1].split()[0] if "v=" in out else "?"


def table(results: Results, lost: dict[str, int]) -> str:
    names = list(lost)
    lines = [
        "| workload | unit | " + " | ".join(names) + f" | {OURS} vs pubsub | {OURS} vs core |",
        "|---|---|" + "---:|" * (len(names) + 2),
    ]
    for work, units in results.items():
        for unit, cells in units.items():
            medians = " | ".join(_cell(statistics.median(cells[n])) for n in names)
            vs_pubsub = _ratio_cell(ratios(unit, cells[OURS], cells[PUBSUB]))
            vs_core = _ratio_cell(ratios(unit, cells[OURS], cells[CORE]))
            lines.append(f"| {work} | {unit} | {medians} | {vs_pubsub} | {vs_core} |")
    lines.append("| messages lost, all rounds | count | " + " | ".join(
        str(lost[n]) for n in names) + " | | |")  # fmt: skip
    return "\n".join(lines)


NOTES = """\
What each workload is:

* ping-pong: one message bounced between two process-local channels, as two
  consumers in a request/reply exchange; round trips/s, one message at a time.
* 10 sender/receiver pairs: ten senders each streaming to its own receiver.
* group_send to N draining members: N channels of one process in one group, each
  drained by its own task in the sender's event loop, as consumers of one server
  process are. "ms per call" is the sender's `await group_send(...)`, which then
  includes the deliveries the loop runs meanwhile; "deliveries/s" runs from the
  first send until every member has every message.
* CPU µs: this process's CPU time per round trip or delivery, the steadier figure
  on a shared machine (Redis' own time is not in it).

Why the figures are what they are:

* asgid_layers delivers exactly once: a direct send is one `EVALSHA` (capacity
  check, push, counts) and the receiving process's reader takes it with a
  blocking pop (`BLMPOP`, up to 512 at a time), so a message costs Redis two
  commands where a pub/sub layer costs one `PUBLISH` and one push, and nothing
  is kept for a receiver that is not listening (at-most-once).
* What closed the gap is the client side. Through redis-py each command cost a
  pool checkout under a lock, a task for the write timeout, a timer for the read
  timeout and per-argument checks: more Python time than Redis spent in our
  script. On plain hosts the layer now writes its per-message commands as
  pre-encoded bytes on pipelined connections and matches replies with hiredis
  (`asgid_layers/wire.py`). A reader keeps 8 blocking pops queued on its own
  connection, so Redis starts the next one the moment one is answered and the
  reader writes once per 7 answers; after a wake-up it lets the receivers it
  woke run first, so a reply they send leaves before its next write. Python
  function calls per ping-pong round trip went from 2,047 to 552 (channels_redis
  pubsub: 1,119), socket writes from 4 to 2.67 (pubsub: 2), function calls per
  delivery to 1,000 draining members from 72 to 43 (pubsub: 43.5); counted with
  cProfile, which does not depend on the machine's load.
* On a loaded machine the pinned runs favour the pub/sub layer: each extra
  socket write or Redis wake-up may wait for a busy core, and asgid_layers
  still has more of them per message (the reader's pops, the capacity
  releases). The CPU µs rows are the fairer comparison there.
* Exact capacity has a Redis cost a pub/sub layer does not pay: each `receive()`
  gives its slot back through a release script (batched over 2 ms, or carried by
  the receiving process's next send), about one `HINCRBY` per delivery. With 100
  members a call is short either way, and "ms per call" mostly shows whether the
  sender's task runs before or after the deliveries it caused; deliveries/s is
  the throughput.
* group_send's script queues one element per receiving process naming the
  group's member set there, whatever the group's size; the process's reader fans
  it out. channels_redis core reads the whole member list into Python and runs a
  script over every member channel, so its call cost grows with the group.
"""


def section_body(table_text: str, rounds: int, pinned: bool) -> str:
    import platform

    import redis

    where = "redis-server on CPU 1, the layers on CPU 0" if pinned else "not pinned"
    return (
        f"asgid_layers beside channels_redis {_peer_version()} (core and pubsub), all on "
        f"redis-py {redis.__version__} with hiredis, redis-server {_server_version()} "
        f"({where}), Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{time.strftime('%Y-%m-%d')}, load average {os.getloadavg()[0]:.1f} at the end of "
        f"the run. {rounds} interleaved rounds; cells are medians, "
        "ratios are per round, median [range], above 1 when asgid_layers is better. Two "
        "layer instances in one asyncio event loop play two processes; capacity is set "
        "high so only speed is measured.\n\n"
        "Rerun: `.venv/bin/python tests/benchmarks/layer_bench.py` (about 3 minutes; "
        "installs channels_redis itself and starts its own redis-server).\n\n"
        f"{table_text}\n\n{NOTES}"
    )


README = HERE.parents[1] / "README.md"
README_START = "<!-- channel layer benchmarks: layer_bench.py writes between these lines -->"
README_END = "<!-- end of channel layer benchmarks -->"
_README_ROWS = [  # (workload prefix, units shown) for the README's short table
    ("ping-pong", ("round trips/s",)),
    ("group_send to 1,000", ("ms per call", "deliveries/s")),
]


def readme_table(results: Results) -> str:
    """asgid_layers beside both channels_redis layers, with per-round ratios."""
    lines = [
        f"| channel layer | {OURS} (exactly once) | {PUBSUB} (at most once) | {CORE} |",
        "|---|---:|---|---|",
    ]
    for prefix, units in _README_ROWS:
        work = next((w for w in results if w.startswith(prefix)), None)
        if work is None:
            continue
        cells = []
        for name in (OURS, PUBSUB, CORE):
            parts = []
            for unit in units:
                value = _cell(statistics.median(results[work][unit][name]))
                ratio = ""
                if name != OURS:
                    per_round = ratios(unit, results[work][unit][OURS], results[work][unit][name])
                    ratio = f" (asgid {statistics.median(per_round):.2f}x)"
                parts.append(f"{value} {unit}{ratio}")
            cells.append(", ".join(parts))
        lines.append(f"| {work} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_readme(text: str) -> None:
    readme = README.read_text()
    start, end = readme.find(README_START), readme.find(README_END)
    if start < 0 or end < start:
        logger.warning("README.md has no channel layer markers; its table was left alone")
        return
    README.write_text(readme[: start + len(README_START)] + "\n" + text + "\n" + readme[end:])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--redis-url", help="use this Redis instead of starting one")
    parser.add_argument("--quick", action="store_true", help="one short round: a smoke run")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 5)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to CPUs 0 and 1")
    parser.add_argument("--no-write", action="store_true", help="do not update docs or results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    rounds = args.rounds or (1 if args.quick else 5)
    ensure_peers()
    pinned = not args.no_pin and (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity")
    if pinned:
        os.sched_setaffinity(0, {0})
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = (None, args.redis_url)
        if url is None:
            proc, url = start_redis(Path(tmp), 1 if pinned else None)
        try:
            results, lost = asyncio.run(run_rounds(make_factories(url), rounds, args.quick))
        finally:
            if proc is not None:
                proc.kill()
                proc.wait()
    text = table(results, lost)
    logging.getLogger("layer_bench.table").info("%s", text)
    payload = json.dumps(results_json(results, lost, rounds), indent=1)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(payload)
    if not args.no_write and not args.quick:
        from _peers import write_section

        write_section("Channel layer", section_body(text, rounds, pinned))
        write_readme(readme_table(results))
    return 1 if lost[OURS] else 0


if __name__ == "__main__":
    raise SystemExit(main())
