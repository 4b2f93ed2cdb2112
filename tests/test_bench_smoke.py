"""The benchmark harness still runs: every server workload for about a second, asgid only.

No figure is checked for speed (speed is only measured by ``make bench`` on a quiet
machine); this proves the harness, its load generators and the report still work, and
that every workload got an answer from the server.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import REPO
from tests.support.tools import require_tool

pytestmark = pytest.mark.timeout(180)


def test_every_benchmark_runs_and_reports(tmp_path: Path) -> None:
    tools = {"wrk": "wrk", "h2load": "nghttp2-client", "curl": "curl", "node": "nodejs"}
    for tool, package in {**tools, "npm": "npm", "taskset": "util-linux"}.items():
        require_tool(tool, package)
    done = subprocess.run(
        [sys.executable, str(REPO / "tests/benchmarks/run_all.py"), "--smoke",
         "--out", str(tmp_path), "--skip", "layer_bench.py"],
        capture_output=True, text=True, timeout=170, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for bench in ("http", "h2", "ws"):
        rows = json.loads((tmp_path / f"{bench}.json").read_text())["rows"]
        for row in rows:
            values = row["values"]["asgid"]
            assert values and all(value > 0 for value in values), (bench, row["title"], values)
    slow = json.loads((tmp_path / "ws_slow.json").read_text())
    assert slow["dropped"] == slow["stuck"]  # each never-reading client was let go
    assert slow["echo_alone"] > 0 and slow["echo_after"] > 0  # healthy ones echoed
    for image in ("bench-http.png", "bench-bodies.png", "bench-h2-ws.png"):
        assert (tmp_path / "img" / image).read_bytes().startswith(b"\x89PNG")
    assert "| HTTP/1.1 hello, wrk -t1 -c50 | requests/s |" in done.stdout


def test_harness_brings_asgid_bytecode_up_to_date() -> None:
    # A source newer than its bytecode (an edit since `make venv`): the harness must leave
    # bytecode Python accepts for every asgid module (source timestamp and size match).
    import importlib.util
    import os
    import struct

    sys.path.insert(0, str(REPO / "tests" / "benchmarks"))
    try:
        import _peers
    finally:
        sys.path.pop(0)
    os.utime(REPO / "server" / "asgid" / "errors.py")  # "edited" now; the content stays
    _peers.asgid_bytecode.cache_clear()
    _peers.server_command("asgid", 8000)  # the harness compiles before its first asgid
    for path in [*(REPO / "server").rglob("*.py"), *(REPO / "channel_layers").rglob("*.py")]:
        header = Path(importlib.util.cache_from_source(str(path))).read_bytes()[:16]
        flags, mtime, size = struct.unpack("<III", header[4:16])
        stat = path.stat()
        assert (flags, mtime, size) == (0, int(stat.st_mtime) & 0xFFFFFFFF, stat.st_size), path
