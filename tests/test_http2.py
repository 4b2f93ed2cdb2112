"""HTTP/2 end to end: ALPN over TLS, h2c (prior knowledge and Upgrade), many streams with flow
control, RST_STREAM, GOAWAY on SIGTERM, trailers, push, file bodies, priority, h2load."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
from collections.abc import Iterator

import httpx
import pytest
from hyperframe.frame import DataFrame, GoAwayFrame, HeadersFrame, PushPromiseFrame, RstStreamFrame

from tests.support.h2frames import (
    ENABLE_PUSH,
    INITIAL_WINDOW_SIZE,
    INTERNAL_ERROR,
    NO_ERROR,
    RawH2,
)
from tests.support.server import AsgidProcess
from tests.support.tls_certs import TLSFiles
from tests.support.tools import require_tool

APP = "tests.apps.h2:app"


@pytest.fixture(scope="module")
def server(tls_files: TLSFiles) -> Iterator[AsgidProcess]:
    """One process listening on h2c (first address) and TLS (second)."""
    proc = AsgidProcess(
        APP,
        "--access-log",
        "/dev/null",
        endpoints=["tcp:0:interface=127.0.0.1", tls_files.endpoint()],
    )
    yield proc
    proc.stop()


def tls_url(server: AsgidProcess) -> str:
    return "https://localhost:" + server.addresses[1].rsplit(":", 1)[1]


def tls_port(server: AsgidProcess) -> int:
    return int(server.addresses[1].rsplit(":", 1)[1])


def test_httpx_http2_over_tls(server: AsgidProcess, tls_files: TLSFiles) -> None:
    with httpx.Client(
        http2=True, verify=tls_files.client_context(alpn=["h2", "http/1.1"])
    ) as client:
        response = client.get(tls_url(server) + "/scope/x?y=1")
    assert response.http_version == "HTTP/2"
    scope = response.json()
    assert scope["http_version"] == "2"
    assert scope["scheme"] == "https"
    assert scope["path"] == "/scope/x" and scope["query_string"] == "y=1"
    assert ["host", f"localhost:{tls_port(server)}"] in scope["headers"]  # from :authority
    assert scope["extensions"]["tls"]["tls_version"] in (0x0303, 0x0304)


def test_httpx_h2c_prior_knowledge(server: AsgidProcess) -> None:
    with httpx.Client(http1=False, http2=True) as client:
        response = client.get(server.url + "/")
    assert response.http_version == "HTTP/2"
    assert response.text == "Hello, world!"
    assert response.headers["server"] == "asgid" and "date" in response.headers


@pytest.mark.parametrize("flag", ["--http2", "--http2-prior-knowledge"])
def test_curl_h2c(server: AsgidProcess, flag: str) -> None:
    curl = require_tool("curl", "curl")
    out = subprocess.run(
        [curl, "-s", flag, "-w", " %{http_version}", "-d", "hi there", server.url + "/echo"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    assert out.stdout == "hi there 2"


def test_curl_over_tls(server: AsgidProcess, tls_files: TLSFiles) -> None:
    curl = require_tool("curl", "curl")
    out = subprocess.run(
        [
            curl,
            "-s",
            "--http2",
            "--cacert",
            str(tls_files.ca_pem),
            "-w",
            " %{http_version}",
            tls_url(server),
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    assert out.stdout == "Hello, world! 2"


async def test_100_streams_each_1mb_up_and_down(server: AsgidProcess) -> None:
    bodies = [bytes([i]) * (1024 * 1024) for i in range(100)]
    async with httpx.AsyncClient(http1=False, http2=True, timeout=60) as client:
        responses = await asyncio.gather(
            *(client.post(server.url + "/echo", content=body) for body in bodies)
        )
    assert all(r.status_code == 200 and r.http_version == "HTTP/2" for r in responses)
    assert all(r.content == body for r, body in zip(responses, bodies, strict=True))


def test_rst_stream_mid_upload_disconnects_that_stream_only(server: AsgidProcess) -> None:
    since = server.mark()
    with RawH2(server.host, server.port) as conn:
        conn.handshake()
        conn.send(
            conn.headers(1, "/upload_watch", method="POST", end_stream=False),
            conn.headers(3, "/upload_watch", method="POST", end_stream=False),
            conn.data(1, b"a" * 1000),
            conn.data(3, b"b" * 2000),
            conn.ping(),
        )
        # The PING's answer shows those frames were read: a stream reset within the same
        # read as its HEADERS is dropped before any app starts for it.
        conn.expect(lambda f: f.type == 0x6 and "ACK" in f.flags)
        conn.send(conn.rst(1))
        server.wait_for("upload_watch disconnected after", since=since)
        conn.send(conn.data(3, b"c" * 500, end_stream=True))
        assert conn.body(3) == b"2500"
    assert server.output.count("upload_watch disconnected") == 1


def test_app_error_mid_response_resets_only_that_stream(server: AsgidProcess) -> None:
    since = server.mark()
    with RawH2(server.host, server.port) as conn:
        conn.handshake()
        conn.send(conn.headers(1, "/crash"))
        assert conn.expect_rst(1).error_code == INTERNAL_ERROR
        conn.send(conn.headers(3))
        assert conn.body(3) == b"Hello, world!"
    server.wait_for("boom (expected by the test)", since=since)


def test_trailers_over_http2(server: AsgidProcess) -> None:
    with RawH2(server.host, server.port) as conn:
        conn.handshake()
        conn.send(conn.headers(1, "/trailers", extra=[("te", "trailers")]))
        conn.body(1)
        headers = [f for f in conn.frames if isinstance(f, HeadersFrame) and f.stream_id == 1]
        assert len(headers) == 2 and "END_STREAM" in headers[1].flags
        data = b"".join(bytes(f.data) for f in conn.frames if isinstance(f, DataFrame))
        assert data == b"part one, part two"
        from hpack import Decoder

        decoder = Decoder()
        decoder.decode(bytes(headers[0].data))
        assert decoder.decode(bytes(headers[1].data)) == [("x-checksum", "abc123")]


def test_trailers_over_http1(server: AsgidProcess) -> None:
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(
            b"GET /trailers HTTP/1.1\r\nhost: x\r\nte: trailers\r\nconnection: close\r\n\r\n"
        )
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert body.endswith(b"0\r\nx-checksum: abc123\r\n\r\n")


def test_server_push_when_client_allows_it(server: AsgidProcess) -> None:
    with RawH2(server.host, server.port) as conn:
        conn.handshake({ENABLE_PUSH: 1})
        conn.send(conn.headers(1, "/push"))
        promise = conn.expect(lambda f: isinstance(f, PushPromiseFrame))
        assert promise.stream_id == 1 and promise.promised_stream_id == 2
        assert conn.body(2) == b"body { color: red }"


def test_no_push_when_client_disables_it(server: AsgidProcess) -> None:
    with RawH2(server.host, server.port) as conn:
        conn.handshake({ENABLE_PUSH: 0})
        conn.send(conn.headers(1, "/push"))
        assert conn.body(1) == b"<html>pushed</html>"
        assert not [f for f in conn.frames if isinstance(f, PushPromiseFrame)]


@pytest.mark.parametrize("http2", [True, False])
def test_pathsend_and_zerocopysend(server: AsgidProcess, http2: bool) -> None:
    data = bytes(range(256)) * (300_000 // 256)
    with httpx.Client(http1=not http2, http2=http2) as client:
        assert client.get(server.url + "/pathsend").content == data
        assert client.get(server.url + "/zerocopy").content == data[256:]
        scope = client.get(server.url + "/scope").json()
    assert {"http.response.pathsend", "http.response.zerocopysend"} <= set(scope["extensions"])


def test_priority_decides_who_gets_the_window(server: AsgidProcess) -> None:
    """Two blocked streams: when windows open, the weight-256 one is served first."""
    with RawH2(server.host, server.port) as conn:
        conn.handshake({INITIAL_WINDOW_SIZE: 0})
        light, heavy = conn.headers(1, "/big/65536"), conn.headers(3, "/big/65536")
        light.flags.add("PRIORITY")
        light.stream_weight, light.depends_on = 0, 0  # weight 1
        heavy.flags.add("PRIORITY")
        heavy.stream_weight, heavy.depends_on = 255, 0  # weight 256
        conn.send(light, heavy)
        for _ in range(2):
            conn.expect(lambda f: isinstance(f, HeadersFrame))
        conn.send(conn.ping())
        conn.expect(lambda f: f.type == 0x6 and "ACK" in f.flags)
        conn.send(conn.window_update(1, 1 << 20), conn.window_update(3, 1 << 20))
        conn.expect(
            lambda f: (
                isinstance(f, DataFrame)
                and sum(len(d.data) for d in conn.frames if isinstance(d, DataFrame)) >= 65535
            )
        )
        sent = {1: 0, 3: 0}
        for frame in conn.frames:
            if isinstance(frame, DataFrame):
                sent[frame.stream_id] += len(frame.data)
        assert sent[3] > sent[1] * 2, sent


def test_h2load_20000_requests_without_errors(server: AsgidProcess) -> None:
    h2load = require_tool("h2load", "nghttp2-client")
    out = subprocess.run(
        [h2load, "-n", "20000", "-c", "10", "-m", "10", server.url + "/"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "20000 succeeded, 0 failed, 0 errored, 0 timeout" in out.stdout, out.stdout


def test_goaway_on_sigterm_lets_open_streams_finish() -> None:
    proc = AsgidProcess(APP, "--access-log", "/dev/null")
    try:
        with RawH2(proc.host, proc.port) as conn:
            conn.handshake()
            conn.send(conn.headers(1, "/slow"))
            proc.wait_for("slow request started")
            proc.signal(signal.SIGTERM)
            goaway = conn.expect_goaway()
            assert goaway.error_code == NO_ERROR and goaway.last_stream_id == 1
            assert conn.body(1) == b"slow done"
            conn.expect_closed()
        assert proc.wait(10) == 0
    finally:
        proc.stop()


def test_new_stream_after_goaway_is_refused() -> None:
    proc = AsgidProcess(APP, "--access-log", "/dev/null")
    try:
        with RawH2(proc.host, proc.port) as conn:
            conn.handshake()
            conn.send(conn.headers(1, "/slow"))
            proc.wait_for("slow request started")
            proc.signal(signal.SIGTERM)
            conn.expect_goaway()
            conn.send(conn.headers(3))
            frame = conn.expect(
                lambda f: (
                    isinstance(f, RstStreamFrame)
                    or (isinstance(f, DataFrame) and "END_STREAM" in f.flags)
                )
            )
            assert isinstance(frame, RstStreamFrame) and frame.stream_id == 3
    finally:
        proc.stop()


def test_no_http2_flag(tls_files: TLSFiles) -> None:
    proc = AsgidProcess(
        APP, "--no-http2", "--access-log", "/dev/null", endpoints=[tls_files.endpoint()]
    )
    try:
        with httpx.Client(
            http2=True, verify=tls_files.client_context(alpn=["h2", "http/1.1"])
        ) as client:
            response = client.get(f"https://localhost:{proc.port}/scope")
        assert response.http_version == "HTTP/1.1"
        assert json.loads(response.content)["http_version"] == "1.1"
    finally:
        proc.stop()


def test_graceful_shutdown_closes_idle_h2_connections(tls_files: TLSFiles) -> None:
    proc = AsgidProcess(APP, "--access-log", "/dev/null", endpoints=[tls_files.endpoint()])
    try:
        with RawH2(proc.host, proc.port, tls=tls_files.client_context()) as conn:
            conn.handshake()
            proc.signal(signal.SIGTERM)
            assert conn.expect_goaway().error_code == NO_ERROR
            conn.expect_closed(timeout=5)
        assert proc.wait(10) == 0
    finally:
        proc.stop()


def test_goaway_frame_type() -> None:
    assert GoAwayFrame.type == 0x7


def test_idle_connection_gets_goaway_after_keep_alive_timeout() -> None:
    proc = AsgidProcess(APP, "--access-log", "/dev/null", "--timeout-keep-alive", "0.3")
    try:
        with RawH2(proc.host, proc.port) as conn:
            conn.handshake()
            conn.send(conn.headers(1))
            assert conn.body(1) == b"Hello, world!"
            goaway = conn.expect_goaway(timeout=3)
            assert goaway.error_code == NO_ERROR and goaway.last_stream_id == 1
            conn.expect_closed(timeout=3)
    finally:
        proc.stop()


def test_request_body_limit() -> None:
    proc = AsgidProcess(APP, "--access-log", "/dev/null", "--max-request-body", "1000")
    try:
        with httpx.Client(http1=False, http2=True) as client:
            assert client.post(proc.url + "/echo", content=b"x" * 1000).status_code == 200
            assert client.post(proc.url + "/echo", content=b"x" * 5000).status_code == 413
            assert client.get(proc.url + "/").status_code == 200  # connection still serves
    finally:
        proc.stop()
