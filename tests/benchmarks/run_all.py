"""Run every benchmark, then draw the plots and rewrite docs/benchmarks.md (``make bench``).

    .venv/bin/python tests/benchmarks/run_all.py            # full run, about 15 minutes
    .venv/bin/python tests/benchmarks/run_all.py --smoke --out DIR

The full run measures every server (peers come from ``tests/benchmarks/.venv-peers``,
created on first use), writes ``results/*.json``, the PNGs in docs/img and the
``## Servers`` section of docs/benchmarks.md (layer_bench.py writes ``## Channel layer``),
and prints the tables; ws_slow_consumers.py prints its figures (docs/security.md quotes
them) and writes ``results/ws_slow.json``. ``--smoke`` runs each workload against asgid
alone for a second or so, writes its results and plots under ``--out`` and leaves docs/
alone: it proves the harness still works, not how fast anything is.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _peers import REPO, RESULTS, setup_logging  # noqa: E402

logger = logging.getLogger("bench")

FULL: list[list[str]] = [
    ["http_bench.py"],
    ["h2_bench.py"],
    ["ws_bench.py"],
    ["ws_slow_consumers.py"],
    ["layer_bench.py"],
    ["ops_bench.py"],
]


def smoke(out: Path) -> list[list[str]]:
    where = ["--out", str(out)]
    return [
        ["http_bench.py", "--servers", "asgid", "--rounds", "1", "--duration", "1",
         "--tries", "1", "--mib", "4", *where],
        ["h2_bench.py", "--servers", "asgid", "--rounds", "1", "--duration", "1", *where],
        ["ws_bench.py", "--servers", "asgid", "--rounds", "1", "--connections", "5",
         "--round-trips", "50", "--idle", "20", *where],
        ["ws_slow_consumers.py", "--stuck", "20", "--healthy", "2", "--probe", "1",
         "--window", "0.5", "--seconds", "30", "--send-timeout", "1", *where],
        ["layer_bench.py", "--quick", "--no-write"],
    ]  # fmt: skip


def main() -> int:
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a second per workload, asgid only")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--skip", default="", help="comma-separated scripts to leave out")
    args = parser.parse_args()
    steps = smoke(args.out) if args.smoke else FULL
    skip = set(filter(None, args.skip.split(",")))
    failed = []
    for step in steps:
        if step[0] in skip:
            continue
        started = time.monotonic()
        logger.info("== %s", " ".join(step))
        if subprocess.run([sys.executable, str(HERE / step[0]), *step[1:]], cwd=REPO).returncode:
            failed.append(step[0])
        logger.info("== %s took %.0f s", step[0], time.monotonic() - started)
    report = [sys.executable, str(HERE / "report.py"), "--results", str(args.out)]
    if args.smoke:
        report += ["--img", str(args.out / "img"), "--no-write"]
    if subprocess.run(report, cwd=REPO).returncode:
        failed.append("report.py")
    if failed:
        logger.error("failed: %s", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
