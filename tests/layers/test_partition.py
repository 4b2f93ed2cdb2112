"""Several hosts for real: Redis and two layer processes in three network namespaces.

Both processes group-send to one group that has members on both hosts, under
load. Host b's link to Redis is cut for 10 s, then restored. Afterwards every
message whose sender saw success reached every member exactly once; a message
whose sender got an error reached each member at most once; b sends and
receives again within 5 s of the restore.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .netns import NamespacesUnavailable, Topology
from .partition_worker import CHANNELS
from .redis_procs import free_port, require_tool

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
CUT_S = 10.0
RESUME_S = 5.0


@pytest.fixture
def topology() -> Iterator[Topology]:
    topo = Topology()
    try:
        topo.create()
    except NamespacesUnavailable as exc:
        reason = f"network namespaces unavailable: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield topo
    finally:
        topo.destroy()


def _wait(condition: Any, what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.02)


def _progress(workdir: Path, name: str) -> dict[str, Any]:
    path = workdir / f"{name}.progress"
    return json.loads(path.read_text()) if path.exists() else {}


def _after(progress: dict[str, Any], key: str, moment: float) -> bool:
    return bool(progress.get(key)) and progress[key][-1] > moment


def test_cut_link_loses_nothing_silently(topology: Topology, tmp_path: Path) -> None:
    redis_bin = require_tool("redis-server")
    port = free_port()
    redis_cmd = [redis_bin, "--port", str(port), "--bind", topology.redis_address, "--save", ""]
    redis_cmd += ["--appendonly", "no", "--protected-mode", "no", "--dir", str(tmp_path)]
    procs: list[subprocess.Popen[bytes]] = []
    logs = []
    try:
        redis_log = open(tmp_path / "redis.log", "wb")  # noqa: SIM115 - closed below
        logs.append(redis_log)
        procs.append(
            subprocess.Popen(
                topology.exec_prefix(topology.redis_ns) + redis_cmd,
                stdout=redis_log,
                stderr=subprocess.STDOUT,
            )
        )
        for i, name in enumerate(topology.hosts):
            url = f"redis://{topology.redis_address}:{port}/0"
            log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - closed below
            logs.append(log)
            cmd = [sys.executable, "-m", "tests.layers.partition_worker", url, name, str(tmp_path)]
            procs.append(
                subprocess.Popen(
                    topology.exec_prefix(topology.host_ns(i)) + cmd,
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        for name in topology.hosts:
            ready = tmp_path / f"{name}.ready"
            _wait(ready.exists, f"{name} to join the group", 30)
        (tmp_path / "go").touch()
        _wait(lambda: _progress(tmp_path, "b").get("received", 0) > 200, "load on b", 15)

        topology.set_link(1, up=False)
        cut_at = time.time()
        time.sleep(CUT_S)  # the length of the outage is the scenario itself
        topology.set_link(1, up=True)
        restored_at = time.time()
        _wait(
            lambda: (
                _after(_progress(tmp_path, "b"), "ok_times", restored_at)
                and _after(_progress(tmp_path, "b"), "recv_times", restored_at)
            ),
            "b to send and receive again",
            RESUME_S * 3,
        )
        (tmp_path / "stop").touch()
        for proc in procs[1:]:
            assert proc.wait(timeout=30) == 0, (tmp_path / "b.log").read_text()[-3000:]
        results = {n: json.loads((tmp_path / f"{n}.json").read_text()) for n in topology.hosts}
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        for log in logs:
            log.close()
    _check(results, cut_at, restored_at)


def _check(results: dict[str, Any], cut_at: float, restored_at: float) -> None:
    deliveries: Counter[tuple[str, int]] = Counter()
    per_channel_twice = 0
    for result in results.values():
        assert len(result["received"]) == CHANNELS
        for got in result["received"].values():
            seen = Counter((sender, seq) for sender, seq in got)
            per_channel_twice += sum(1 for n in seen.values() if n > 1)
            deliveries.update(seen.keys())
    members = CHANNELS * len(results)
    counts: Counter[str] = Counter()
    for sender, result in results.items():
        for seq, outcome in result["sent"].items():
            n = deliveries[(sender, int(seq))]
            if outcome == "ok":
                counts["ok, delivered to all"] += n == members
                counts["ok, VANISHED"] += n != members
            else:
                counts["error, delivered to all"] += n == members
                counts["error, delivered to none"] += n == 0
                counts["error, PARTIAL"] += n not in (0, members)
    b = results["b"]
    resumed_send = min(t for t in b["ok_times"] if t > restored_at) - restored_at
    resumed_receive = min(t for t in b["recv_times"] if t > restored_at) - restored_at
    errors_in_cut = sum(1 for outcome in b["sent"].values() if outcome == "error")
    figures = {
        **counts,
        "sent by a": len(results["a"]["sent"]),
        "sent by b": len(b["sent"]),
        "b receive() errors": b["receive_errors"],
        "b resumed sending after (s)": round(resumed_send, 2),
        "b resumed receiving after (s)": round(resumed_receive, 2),
        "messages twice on one channel": per_channel_twice,
    }
    logger.warning("partition figures: %s", figures)
    assert per_channel_twice == 0, figures
    assert counts["ok, VANISHED"] == 0 and counts["error, PARTIAL"] == 0, figures
    assert errors_in_cut > 0, f"the cut did not reach b's sender: {figures}"
    assert resumed_send <= RESUME_S and resumed_receive <= RESUME_S, figures
    assert cut_at < restored_at
