"""Run every benchmark in this folder in turn and update docs/benchmarks.md (``make bench``).

Each benchmark starts its peers (daphne, uvicorn, hypercorn, channels_redis) from
``tests/benchmarks/.venv-peers``, created on first use, and writes its own section.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["http_bench.py", "h2_bench.py", "ws_bench.py", "layer_bench.py"]


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        script = HERE / name
        if not script.exists():
            continue
        sys.stderr.write(f"== {name}\n")
        if subprocess.run([sys.executable, str(script)], cwd=HERE.parents[1]).returncode:
            failed.append(name)
    if failed:
        sys.stderr.write(f"failed: {', '.join(failed)}\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
