"""``--metrics-endpoint``: the asgid_* series over real requests, across workers, and the
channel layer's counters when the app uses asgid_layers."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from tests.layers.redis_procs import RedisProc, free_port
from tests.support.h2frames import ENHANCE_YOUR_CALM, PROTOCOL_ERROR, REFUSED_STREAM, RawH2
from tests.support.server import AsgidProcess

METRICS = "tcp:0:interface=127.0.0.1"


def metrics_url(server: AsgidProcess) -> str:
    line = server.wait_for("Metrics on ")
    return "http://" + line.split("Metrics on tcp:", 1)[1].strip()


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of one scrape."""
    text = httpx.get(url, timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_for_value(url: str, name: str, expected: float, **labels: str) -> dict:
    deadline = time.monotonic() + 10
    while True:
        samples = scrape(url)
        if value(samples, name, **labels) == expected or time.monotonic() > deadline:
            return samples
        time.sleep(0.1)


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_one_process_counts_requests_connections_messages_and_rejections(asgid, loop):
    server = asgid("tests.apps.ops:raises", "--metrics-endpoint", METRICS, "--loop", loop)
    url = metrics_url(server)
    with httpx.Client() as client:
        for _ in range(3):
            assert client.get(server.url + "/pid").status_code == 200
        assert client.get(server.url + "/boom").status_code == 500
        huge = {f"x-h{i}": "v" for i in range(150)}  # over --limit-request-headers: 431
        assert client.get(server.url + "/", headers=huge).status_code == 431
    with httpx.Client(http1=False, http2=True) as h2:
        assert h2.get(server.url + "/pid").http_version == "HTTP/2"
    with connect(f"ws://127.0.0.1:{server.port}/") as ws:
        ws.send("a")
        ws.recv(timeout=5)
        ws.send("b")
        ws.recv(timeout=5)
        during = scrape(url)
    # Request counts reach the counters once a second; connection gauges at once.
    wait_for_value(url, "asgid_connections_open", 0.0, protocol="websocket")
    after = wait_for_value(url, "asgid_requests_total", 3.0, protocol="http/1.1", status="200")
    assert value(after, "asgid_requests_total", protocol="http/1.1", status="200") == 3
    assert value(after, "asgid_requests_total", protocol="http/1.1", status="500") == 1
    assert value(after, "asgid_requests_total", protocol="h2", status="200") == 1
    assert value(after, "asgid_app_exceptions_total") == 1
    assert value(after, "asgid_rejected_requests_total", status="431") == 1
    assert value(after, "asgid_websocket_messages_total", direction="received") == 2
    assert value(after, "asgid_websocket_messages_total", direction="sent") == 2
    assert value(during, "asgid_connections_open", protocol="websocket") == 1
    assert value(after, "asgid_request_duration_seconds_count", protocol="http/1.1") == 4
    assert value(after, "asgid_requests_in_flight") == 0
    assert value(after, "asgid_worker_restarts_total") == 0


def test_durations_land_in_their_buckets_with_their_sum(asgid):
    server = asgid("tests.apps.ops:app", "--metrics-endpoint", METRICS)
    url = metrics_url(server)
    with httpx.Client() as client:
        for _ in range(2):
            assert client.get(server.url + "/slow?s=0.3").text == "slow done"
        for _ in range(3):
            assert client.get(server.url + "/pid").status_code == 200
    # Counts wait in the process until a flush; the scrape flushes before it collects,
    # so the first scrape after the last request finished is exact (no 1 s lag).
    samples = wait_for_value(url, "asgid_requests_total", 5.0, protocol="http/1.1", status="200")
    bucket = "asgid_request_duration_seconds_bucket"

    def le(bound: str) -> float:
        return value(samples, bucket, protocol="http/1.1", le=bound)

    assert le("0.25") == 3  # cumulative: the three quick ones
    assert le("0.5") == le("+Inf") == 5
    assert value(samples, "asgid_request_duration_seconds_count", protocol="http/1.1") == 5
    total = value(samples, "asgid_request_duration_seconds_sum", protocol="http/1.1")
    assert 0.6 <= total < 1.5


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_http2_rejections_are_counted_under_their_http_status(asgid, loop):
    server = asgid(
        "tests.apps.h2:app", "--metrics-endpoint", METRICS, "--loop", loop,
        "--h2-max-concurrent-streams", "1", "--max-request-body", "10",
    )  # fmt: skip
    url = metrics_url(server)
    with RawH2(server.host, server.port) as conn:
        conn.handshake()
        conn.send(conn.headers(1, extra=[("x-a", " 1")]))  # malformed (RFC 9113 §8.2.1): 400
        assert conn.expect_rst(1).error_code == PROTOCOL_ERROR
        conn.send(conn.headers(3, "/hold"), conn.headers(5))  # over the stream limit: 503
        assert conn.expect_rst(5).error_code == REFUSED_STREAM
        conn.send(conn.rst(3), conn.headers(7, "/echo", method="POST", end_stream=False))
        conn.send(conn.data(7, b"x" * 100, end_stream=True))  # over --max-request-body: 413
        assert b"Content Too Large" in conn.body(7)
    with RawH2(server.host, server.port) as conn:
        conn.handshake()
        block = conn.encoder.encode(
            [(":method", "GET"), (":scheme", "http"), (":path", "/")]
            + [(f"x-big-{i}", "v" * 1000) for i in range(80)]
        )  # over SETTINGS_MAX_HEADER_LIST_SIZE: 431
        conn.send(*conn.header_block(1, block))
        assert conn.expect_goaway().error_code == ENHANCE_YOUR_CALM
    # Every refusal was counted before its frame left; the scrape flushes first: no waiting.
    samples = scrape(url)
    for status in ("400", "413", "431", "503"):
        assert value(samples, "asgid_rejected_requests_total", status=status) == 1, status


def test_workers_sum_their_counts_and_count_restarts(asgid):
    server = asgid("tests.apps.ops:app", "--workers", "2", "--metrics-endpoint", METRICS)
    server.wait_for("asgid ready: 2 workers", timeout=20)
    url = metrics_url(server)
    pids = set()
    for _ in range(20):
        with httpx.Client() as client:  # new connections: both workers take some
            pids.add(client.get(server.url + "/pid").text)
    assert len(pids) == 2
    labels = {"protocol": "http/1.1", "status": "200"}
    samples = wait_for_value(url, "asgid_requests_total", 20.0, **labels)
    assert value(samples, "asgid_requests_total", **labels) == 20
    victim = int(sorted(pids)[0])
    os.kill(victim, signal.SIGKILL)
    server.wait_for(f"worker {victim} exited with status -9")
    samples = wait_for_value(url, "asgid_worker_restarts_total", 1.0)
    assert value(samples, "asgid_worker_restarts_total") == 1
    # The dead worker's counts stay in the sum: counters never go backwards.
    assert value(samples, "asgid_requests_total", protocol="http/1.1", status="200") == 20


def test_workers_flush_their_last_counts_when_they_stop(asgid, tmp_path):
    """Counts wait up to a second in each worker; a graceful stop writes them out."""
    server = asgid(
        "tests.apps.ops:app", "--workers", "2", "--metrics-endpoint", METRICS,
        env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
    )  # fmt: skip
    server.wait_for("asgid ready: 2 workers", timeout=20)
    for _ in range(20):
        with httpx.Client() as client:
            assert client.get(server.url + "/pid").status_code == 200
    server.signal(signal.SIGTERM)
    assert server.wait() == 0
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(tmp_path))  # the files the workers left
    total = registry.get_sample_value(
        "asgid_requests_total", {"protocol": "http/1.1", "status": "200"}
    )
    assert total == 20
    count = registry.get_sample_value(
        "asgid_request_duration_seconds_count", {"protocol": "http/1.1"}
    )
    assert count == 20


@pytest.fixture(scope="module")
def redis(tmp_path_factory) -> Iterator[RedisProc]:
    proc = RedisProc(free_port(), tmp_path_factory.mktemp("redis")).start()
    yield proc
    proc.stop()


def test_channel_layer_stats_become_asgid_layer_series(asgid, redis):
    server = asgid(
        "tests.apps.layered:app", "--metrics-endpoint", METRICS, env={"LAYER_REDIS_URL": redis.url}
    )
    url = metrics_url(server)
    for _ in range(3):
        assert httpx.get(server.url + "/", timeout=10).text == "sent and received"
    samples = wait_for_value(url, "asgid_layer_received_total", 3.0, alias="default")
    assert value(samples, "asgid_layer_sent_total", alias="default") == 3
    assert value(samples, "asgid_layer_received_total", alias="default") == 3
    assert ("asgid_layer_buffered", (("alias", "default"),)) in samples


def test_metrics_off_serves_no_metrics(asgid):
    server = asgid("tests.apps.ops:app")
    assert "Metrics on" not in server.output
    assert httpx.get(server.url + "/metrics").text == "ok"  # the app's own path
