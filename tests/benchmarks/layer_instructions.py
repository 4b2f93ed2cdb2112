"""CPU instructions per group delivery of each channel layer, counted by callgrind.

    .venv/bin/python tests/benchmarks/layer_instructions.py [--members 1000] [--layers ...]

The workload is layer_bench.py's "group_send to N draining members" (``group_draining``):
one process, N member channels each drained by its own task, the sender in the same loop.
Each layer runs it twice under ``valgrind --tool=callgrind``, with ``--few`` and with
``--many`` group sends; the difference of the two totals divided by the extra deliveries is
what one delivery costs, with interpreter start-up, imports and the group's set-up
cancelled out. Instruction counts do not depend on the machine's load, so this shows what
a change to the receive path saves when wall-clock rounds swing. Expect about a minute per
layer (valgrind runs Python some 50 times slower); redis-server runs outside valgrind.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import layer_bench  # noqa: E402
from layer_workloads import group_draining  # noqa: E402

logger = logging.getLogger("bench.layer_instructions")
LAYERS = (layer_bench.OURS, layer_bench.PUBSUB)


def run_child(layer: str, url: str, members: int, sends: int) -> None:
    """The measured process: one group_draining run of ``layer``."""
    layer_bench.ensure_peers()
    factory = layer_bench.make_factories(url)[layer]
    measure = asyncio.run(group_draining(factory, members, sends))
    if measure.lost:
        raise SystemExit(f"{layer} lost {measure.lost} messages")


def count(layer: str, url: str, members: int, sends: int, out_dir: Path) -> int:
    """Total instructions of one child process under callgrind."""
    out = out_dir / f"callgrind.{sends}"
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
         __file__, "--child", layer, "--url", url, "--members", str(members),
         "--sends", str(sends)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    match = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no instruction total in {out}")
    return int(match.group(1))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--few", type=int, default=20, help="group sends of the short run")
    parser.add_argument("--many", type=int, default=60, help="group sends of the long run")
    parser.add_argument("--layers", nargs="+", default=list(LAYERS), choices=LAYERS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--sends", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.url, args.members, args.sends)
        return
    layer_bench.ensure_peers()  # once, outside valgrind
    with tempfile.TemporaryDirectory() as tmp:
        redis, url = layer_bench.start_redis(Path(tmp), cpu=None)
        try:
            for layer in args.layers:
                few = count(layer, url, args.members, args.few, Path(tmp))
                many = count(layer, url, args.members, args.many, Path(tmp))
                per = (many - few) / (args.members * (args.many - args.few))
                logger.info("%-24s %8.0f instructions per delivery", layer, per)
        finally:
            redis.kill()
            redis.wait()


if __name__ == "__main__":
    main()
