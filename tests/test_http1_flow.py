"""Bounded memory both ways (upload pauses reading, download waits on the transport),
http.disconnect delivery and Server-Sent Events that end cleanly."""

from __future__ import annotations

import json
import socket
import threading
import time

import psutil
import pytest

from tests.support.raw import RawClient, wait_until
from tests.support.server import AsgidProcess

APP = "tests.apps.http:app"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def server():
    proc = AsgidProcess(APP)
    yield proc
    proc.stop()


def _rss(proc: AsgidProcess) -> int:
    return int(psutil.Process(proc.proc.pid).memory_info().rss)


def _warm_up(server: AsgidProcess) -> None:
    with RawClient(server.port) as client:
        client.send(b"POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % MIB)
        client.send(b"x" * MIB)
        client.read_response()


def test_200mb_upload_streams_with_bounded_memory(server):
    _warm_up(server)
    baseline = _rss(server)
    total = 200 * MIB
    block = b"u" * MIB
    peak = baseline
    started = time.monotonic()
    with RawClient(server.port, timeout=30) as client:
        # The app reads slower than the client sends: only paused reading bounds memory.
        client.send(
            b"POST /count?pace=0.001 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % total
        )
        for number in range(total // MIB):  # a generator's worth of blocks, never all at once
            client.send(block)
            if number % 10 == 0:
                peak = max(peak, _rss(server))
        result = json.loads(client.read_response().body)
    elapsed = time.monotonic() - started
    assert result["bytes"] == total
    assert result["biggest"] <= 1 * MIB  # the app saw chunks, not the whole body
    growth = (peak - baseline) / MIB
    assert growth < 40, f"server RSS grew by {growth:.0f} MiB during a 200 MiB upload"
    assert elapsed < 20


def test_slow_reader_does_not_grow_server_memory(server):
    _warm_up(server)
    baseline = _rss(server)
    size = 500 * MIB
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    try:
        sock.sendall(b"GET /stream?size=%d HTTP/1.1\r\nHost: x\r\n\r\n" % size)
        received = 0
        peak = baseline
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:  # a slow client: 64 KiB every 10 ms
            received += len(sock.recv(65536))
            time.sleep(0.01)
            peak = max(peak, _rss(server))
    finally:
        sock.close()
    assert received > 0
    growth = (peak - baseline) / MIB
    # Without backpressure the app would push all 500 MiB into the transport at once.
    assert growth < 40, f"server RSS grew by {growth:.0f} MiB for a slow reader"


def test_large_download_completes(server):
    with RawClient(server.port) as client:
        client.send(b"GET /stream?size=%d HTTP/1.1\r\nHost: x\r\n\r\n" % (20 * MIB))
        response = client.read_response()
    assert len(response.body) == 20 * MIB


def test_disconnect_is_delivered(server):
    since = server.mark()
    client = RawClient(server.port)
    client.send(b"GET /wait-disconnect/one HTTP/1.1\r\nHost: x\r\n\r\n")
    server.wait_for("waiting for disconnect /wait-disconnect/one", since=since)
    client.close()
    server.wait_for("disconnect delivered /wait-disconnect/one", since=since)


def test_disconnect_delivered_to_a_request_waiting_for_its_body(server):
    since = server.mark()
    client = RawClient(server.port)
    client.send(b"POST /wait-disconnect/two HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
    server.wait_for("waiting for disconnect /wait-disconnect/two", since=since)
    client.close()
    server.wait_for("disconnect delivered /wait-disconnect/two", since=since)


def test_server_sent_events_end_cleanly_on_disconnect(server):
    since = server.mark()
    client = RawClient(server.port)
    client.send(b"GET /sse HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
    wait_until(lambda: client._fill() and client.buffer.count(b"data: ") >= 3)
    assert client.buffer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"transfer-encoding: chunked" in client.buffer
    client.close()
    line = server.wait_for("sse: ", since=since)
    assert "disconnect received" in line or "send failed after disconnect" in line
    assert "Exception in ASGI application" not in server.output


def test_many_clients_disconnecting_mid_response(server):
    def one() -> None:
        with RawClient(server.port) as client:
            client.send(b"GET /stream?size=%d HTTP/1.1\r\nHost: x\r\n\r\n" % (50 * MIB))
            client._fill()

    threads = [threading.Thread(target=one) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    with RawClient(server.port) as client:
        client.send(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.read_response().body == b"/ok"
    assert "Exception in ASGI application" not in server.output
