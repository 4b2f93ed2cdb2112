"""--send-timeout: a response send() stuck behind a client that takes nothing (an HTTP/2
window never opened, an HTTP/1.1 socket never read) resets the stream or drops the
connection; the app's send raises and it gets http.disconnect; the server keeps serving.
The bounded wait itself (``sent_within``) in memory: how soon it wakes, and that it never
cancels the wire's waiter."""

from __future__ import annotations

import asyncio
import socket

import pytest
from asgid.asgi.send_timeout import sent_within

from tests.support.h2frames import CANCEL, INITIAL_WINDOW_SIZE, RawH2
from tests.support.server import run_cli

APP = "tests.apps.h2:app"
LOOPS = ["uvloop", "asyncio"]


def _app_saw_the_timeout(server) -> None:
    server.wait_for("flood send raised ClientDisconnected", timeout=15)
    server.wait_for("flood receive gave http.disconnect", timeout=5)


@pytest.mark.parametrize("loop", LOOPS)
def test_h2_stream_without_window_is_reset(asgid, loop):
    server = asgid(APP, "--loop", loop, "--send-timeout", "1", "--access-log", "/dev/null")
    with RawH2(server.host, server.port) as client:
        client.handshake({INITIAL_WINDOW_SIZE: 0})  # no stream may receive DATA
        client.send(client.headers(1, "/flood"))
        assert client.expect_rst(1, timeout=15).error_code == CANCEL
        _app_saw_the_timeout(server)
        # Only that stream ended: the connection serves the next one.
        client.send(client.headers(3), client.window_update(3, 1000))
        assert client.body(3) == b"Hello, world!"
    assert server.output.count("--send-timeout") == 1


@pytest.mark.parametrize("path", ["/flood", "/pathflood"], ids=["body", "sendfile"])
@pytest.mark.parametrize("loop", LOOPS)
def test_http1_client_that_never_reads_is_dropped(asgid, loop, path):
    server = asgid(APP, "--loop", loop, "--send-timeout", "1", "--access-log", "/dev/null")
    with socket.create_connection((server.host, server.port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
        # From here on the client reads nothing.
        _app_saw_the_timeout(server)
        sock.settimeout(10)
        with pytest.raises(ConnectionResetError):  # aborted: nothing queued is flushed
            while sock.recv(1 << 20):
                pass
    with socket.create_connection((server.host, server.port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert sock.makefile("rb").read().endswith(b"Hello, world!")
    assert server.output.count("--send-timeout") == 1


def test_negative_send_timeout_is_refused():
    result = run_cli(APP, "--send-timeout", "-1")
    assert result.returncode != 0
    assert "--send-timeout must be zero or more seconds" in result.stderr + result.stdout


def _turns_until(loop: asyncio.AbstractEventLoop, task: asyncio.Task[object]) -> int:
    """Loop turns (``sleep(0)`` each) until ``task`` is done."""
    turns = 0

    async def count() -> None:
        nonlocal turns
        while not task.done():
            turns += 1
            await asyncio.sleep(0)

    loop.run_until_complete(count())
    return turns


def test_sent_within_wakes_the_sender_promptly():
    loop = asyncio.new_event_loop()
    try:
        waiter = loop.create_future()
        task = loop.create_task(sent_within(waiter, 30.0))
        loop.run_until_complete(asyncio.sleep(0))  # the task now waits
        waiter.set_result(None)
        # The waiter's callback runs in the first turn and the sender in the second, while
        # this counter waits once; wait_for(shield(waiter)) needed one turn more.
        assert _turns_until(loop, task) == 1
        assert task.result() is True
    finally:
        loop.close()


def test_sent_within_times_out_without_touching_the_wires_waiter():
    loop = asyncio.new_event_loop()
    try:
        waiter = loop.create_future()
        assert loop.run_until_complete(sent_within(waiter, 0.01)) is False
        assert not waiter.done()  # the wire still owns it and resolves it later
        cancelled = loop.create_task(sent_within(waiter, 30.0))
        loop.run_until_complete(asyncio.sleep(0))
        cancelled.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        assert cancelled.cancelled() and not waiter.done()
        waiter.set_exception(ConnectionError("gone"))
        with pytest.raises(ConnectionError):
            loop.run_until_complete(sent_within(waiter, 30.0))
    finally:
        loop.close()
