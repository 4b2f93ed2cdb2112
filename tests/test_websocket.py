"""WebSockets end to end with the ``websockets`` client over real sockets."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support.server import AsgidProcess
from tests.support.tls_certs import TLSFiles
from tests.support.ws_frames import PING, RawSocket


@pytest.fixture(scope="module")
def server() -> Iterator[AsgidProcess]:
    proc = AsgidProcess(
        "tests.apps.ws:by_path",
        "--websocket-max-message-size",
        "0",
        "--websocket-max-frame-size",
        "0",
        "--websocket_connect_timeout",
        "0.5",
        "--ws-protocol",
        "chat.v2",
    )
    yield proc
    proc.stop()


def ws_url(proc: AsgidProcess, path: str) -> str:
    return f"ws://127.0.0.1:{proc.port}{path}"


async def test_echo_text_bytes_empty_and_10mb(server: AsgidProcess) -> None:
    async with connect(ws_url(server, "/echo"), max_size=None) as ws:
        for message in ("hello", "ünïcode ✓", b"\x00\x01\x02", "", b""):
            await ws.send(message)
            assert await ws.recv() == message
        big = bytes(range(256)) * (10 * 1024 * 1024 // 256)
        await ws.send(big)
        assert await ws.recv() == big


async def test_server_sends_empty_frames(server: AsgidProcess) -> None:
    async with connect(ws_url(server, "/empty")) as ws:
        assert await ws.recv() == ""
        assert await ws.recv() == b""


async def test_scope(server: AsgidProcess) -> None:
    async with connect(ws_url(server, "/scope/a%20b?x=1"), subprotocols=["p1", "p2"]) as ws:
        scope = json.loads(await ws.recv())
    assert scope["type"] == "websocket"
    assert scope["scheme"] == "ws"
    assert scope["path"] == "/scope/a b"
    assert scope["raw_path"] == "/scope/a%20b"
    assert scope["query_string"] == "x=1"
    assert scope["subprotocols"] == ["p1", "p2"]
    assert scope["http_version"] == "1.1"
    assert scope["asgi"]["spec_version"] == "2.4"
    assert scope["client"][0] == "127.0.0.1" and scope["server"][1] == server.port
    assert "websocket.http.response" in scope["extensions"]


async def test_subprotocol_and_extra_headers(server: AsgidProcess) -> None:
    async with connect(ws_url(server, "/subprotocol"), subprotocols=["a", "b"]) as ws:
        assert ws.subprotocol == "b"
        assert ws.response.headers["x-extra"] == "yes"
        assert json.loads(await ws.recv()) == ["a", "b"]


async def test_ws_protocol_flag_is_the_default_subprotocol(server: AsgidProcess) -> None:
    async with connect(ws_url(server, "/echo"), subprotocols=["chat.v1", "chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v2"


async def test_close_before_accept_is_403(server: AsgidProcess) -> None:
    with pytest.raises(InvalidStatus) as info:
        await connect(ws_url(server, "/reject"))
    assert info.value.response.status_code == 403


async def test_denial_response_with_any_status_headers_and_body(server: AsgidProcess) -> None:
    with pytest.raises(InvalidStatus) as info:
        await connect(ws_url(server, "/deny"))
    response = info.value.response
    assert response.status_code == 401
    assert response.headers["x-why"] == "no-token"
    assert response.body == b"need a token"


async def test_app_error_before_accept_is_500_and_after_is_1011(server: AsgidProcess) -> None:
    with pytest.raises(InvalidStatus) as info:
        await connect(ws_url(server, "/crash"))
    assert info.value.response.status_code == 500
    async with connect(ws_url(server, "/crash?after")) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011


async def test_connect_timeout_refuses_the_handshake(server: AsgidProcess) -> None:
    started = time.monotonic()
    with pytest.raises(InvalidStatus) as info:
        await connect(ws_url(server, "/silent"))
    assert info.value.response.status_code == 503
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    ("code", "reason"), [(1000, ""), (4001, "custom reason ✓"), (1008, "policy")]
)
async def test_server_close_code_and_reason(server: AsgidProcess, code: int, reason: str) -> None:
    since = server.mark()
    async with connect(ws_url(server, f"/close?{code};{reason}")) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (code, reason)
    server.wait_for("SEND-AFTER-CLOSE ClientDisconnected", since=since)


@pytest.mark.parametrize(("code", "reason"), [(1000, "bye"), (4321, "client ✓ reason")])
async def test_client_close_code_and_reason_reach_the_app(
    server: AsgidProcess, code: int, reason: str
) -> None:
    since = server.mark()
    path = f"/record/{code}"
    async with connect(ws_url(server, path)) as ws:
        await ws.close(code, reason)
    server.wait_for(f"DISCONNECT {path} {code} {reason!r}", since=since)


def test_disconnect_when_the_client_process_is_killed(server: AsgidProcess) -> None:
    since = server.mark()
    script = (
        "import asyncio, sys\n"
        "from websockets.asyncio.client import connect\n"
        "async def main():\n"
        f"    ws = await connect('{ws_url(server, '/record/killed')}')\n"
        "    print('open', flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "open"
        child.kill()
    finally:
        child.wait(10)
        assert child.stdout is not None
        child.stdout.close()
    server.wait_for("DISCONNECT /record/killed 1006 ''", since=since)
    assert server.output.count("\nDISCONNECT /record/killed") == 1


async def test_access_log_lines(server: AsgidProcess) -> None:
    since = server.mark()
    async with connect(ws_url(server, "/echo")) as ws:
        await ws.send("logged")
        assert await ws.recv() == "logged"
    with pytest.raises(InvalidStatus):
        await connect(ws_url(server, "/reject"))
    server.wait_for('"WSCONNECT /echo"', since=since)
    server.wait_for('"WSDISCONNECT /echo"', since=since)
    server.wait_for('"WSREJECT /reject"', since=since)


async def test_permessage_deflate_negotiated_when_offered(server: AsgidProcess) -> None:
    async with connect(ws_url(server, "/echo"), compression="deflate") as ws:
        assert "permessage-deflate" in ws.response.headers.get("sec-websocket-extensions", "")
        await ws.send("z" * 100_000)
        assert await ws.recv() == "z" * 100_000
    async with connect(ws_url(server, "/echo"), compression=None) as ws:
        assert "sec-websocket-extensions" not in ws.response.headers


async def test_permessage_deflate_off(asgid) -> None:  # type: ignore[no-untyped-def]
    proc = asgid("tests.apps.ws:echo", "--ws-per-message-deflate", "off")
    async with connect(ws_url(proc, "/"), compression="deflate") as ws:
        assert "sec-websocket-extensions" not in ws.response.headers
        await ws.send("plain")
        assert await ws.recv() == "plain"


async def test_default_limits_close_1009(asgid) -> None:  # type: ignore[no-untyped-def]
    proc = asgid("tests.apps.ws:echo")
    async with connect(ws_url(proc, "/"), max_size=None, compression=None) as ws:
        await ws.send(b"x" * (1024 * 1024))  # exactly the limit is fine
        assert len(await ws.recv()) == 1024 * 1024
        await ws.send(b"x" * (1024 * 1024 + 1))
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_ping_keepalive_and_lifetime_timeout(asgid) -> None:  # type: ignore[no-untyped-def]
    proc = asgid(
        "tests.apps.ws:echo",
        "--ping-interval",
        "0.2",
        "--ping-timeout",
        "0.5",
        "--websocket_timeout",
        "1.5",
    )
    started = time.monotonic()
    async with connect(ws_url(proc, "/"), ping_interval=None) as ws:
        # The client answers the server's pings by itself, so the socket outlives
        # several ping timeouts, until the lifetime limit closes it with 1000.
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.recv()
    elapsed = time.monotonic() - started
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    assert 1.3 < elapsed < 5


def test_ping_timeout_drops_a_silent_peer(asgid) -> None:  # type: ignore[no-untyped-def]
    proc = asgid("tests.apps.ws:echo", "--ping-interval", "0.2", "--ping-timeout", "0.3")
    with RawSocket(proc.port) as ws:
        assert ws.open("/") == 101
        assert ws.read_frame().opcode == PING  # never answered
        assert ws.closed_by_server(timeout=5)


async def test_graceful_shutdown_closes_with_1001(asgid) -> None:  # type: ignore[no-untyped-def]
    proc = asgid("tests.apps.ws:echo")
    async with connect(ws_url(proc, "/")) as ws:
        await ws.send("hi")
        assert await ws.recv() == "hi"
        proc.signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert await asyncio.to_thread(proc.wait, 15) == 0
    assert "WSDISCONNECT" in proc.output


async def test_wss_on_tls_endpoints(asgid, tls_files: TLSFiles) -> None:  # type: ignore[no-untyped-def]
    proc = asgid("tests.apps.ws:by_path", endpoints=(tls_files.endpoint(),))
    context = tls_files.client_context(alpn=["http/1.1"])
    async with connect(f"wss://127.0.0.1:{proc.port}/scope", ssl=context) as ws:
        scope = json.loads(await ws.recv())
    assert scope["scheme"] == "wss"


async def test_slow_reader_does_not_grow_server_memory(server: AsgidProcess) -> None:
    since = server.mark()
    process = psutil.Process(server.proc.pid)
    before = process.memory_info().rss
    with RawSocket(server.port) as ws:
        ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        assert ws.open("/firehose") == 101
        await asyncio.sleep(1.5)  # the app sends as fast as send() lets it; we never read
        grown = process.memory_info().rss - before
    line = server.wait_for("FIREHOSE-STOPPED", since=since)
    sent_mib = int(line.split()[-1]) * 64 / 1024
    assert sent_mib < 64, line  # send() waited: only socket buffers' worth went out
    assert grown < 48 * 1024 * 1024


async def test_lagging_app_stops_the_reading(server: AsgidProcess) -> None:
    process = psutil.Process(server.proc.pid)
    before = process.memory_info().rss
    chunk = b"x" * 65536
    sent = 0
    async with connect(ws_url(server, "/lagging?3"), compression=None, max_queue=1) as ws:

        async def flood() -> None:
            nonlocal sent
            while True:
                await ws.send(chunk)
                sent += 1

        try:
            await asyncio.wait_for(flood(), 1.5)
        except TimeoutError:
            pass
        grown = process.memory_info().rss - before
        await ws.send("done")
        # nothing lost once the app reads again (the send cut short may still arrive)
        assert sent + 1 <= int(await ws.recv()) <= sent + 2
    assert sent * 64 < 256 * 1024  # the client was held back, well short of 1.5 s at full speed
    assert grown < 48 * 1024 * 1024


async def test_a_thousand_concurrent_sockets_held_and_echoing(server: AsgidProcess) -> None:
    count = 1000
    sockets = []
    try:
        for start in range(0, count, 100):  # handshakes in waves of 100 (listen backlog)
            sockets += await asyncio.gather(
                *(
                    connect(ws_url(server, "/echo"), compression=None)
                    for _ in range(start, start + 100)
                )
            )
        for round_ in range(2):
            await asyncio.gather(*(ws.send(f"{round_}:{i}") for i, ws in enumerate(sockets)))
            replies = await asyncio.wait_for(asyncio.gather(*(ws.recv() for ws in sockets)), 30)
            assert replies == [f"{round_}:{i}" for i in range(count)]
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


async def test_scheme_from_a_trusted_proxy(asgid) -> None:  # type: ignore[no-untyped-def]
    proc = asgid("tests.apps.ws:by_path", "--proxy-headers")
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    async with connect(ws_url(proc, "/scope"), additional_headers=headers) as ws:
        scope = json.loads(await ws.recv())
    assert scope["scheme"] == "wss"
    assert scope["client"][0] == "203.0.113.9"
