"""App errors and ASGI misuse are contained: 500 or close, logged, the server keeps serving."""

from __future__ import annotations

import pytest

from tests.support.raw import RawClient
from tests.support.server import AsgidProcess

APP = "tests.apps.http:app"


@pytest.fixture(scope="module")
def server():
    proc = AsgidProcess(APP, "--application-close-timeout", "0.5")
    yield proc
    proc.stop()


def _get(client: RawClient, path: str):
    client.send(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
    return client.read_response()


def test_exception_before_start_is_500_and_connection_stays_usable(server):
    since = server.mark()
    with RawClient(server.port) as client:
        response = _get(client, "/error-before")
        assert response.status == 500
        assert response.header("connection") is None
        assert _get(client, "/after").body == b"/after"
    server.wait_for("boom before start", since=since)


def test_exception_after_start_closes_connection(server):
    since = server.mark()
    with RawClient(server.port) as client:
        client.send(b"GET /error-after HTTP/1.1\r\nHost: x\r\n\r\n")
        data = client.read_until_closed()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"partial" in data
    assert not data.endswith(b"0\r\n\r\n")  # no clean end: the client sees the truncation
    server.wait_for("boom after start", since=since)


def test_exception_after_complete_response_keeps_connection(server):
    since = server.mark()
    with RawClient(server.port) as client:
        assert _get(client, "/error-after-complete").body == b"done"
        assert _get(client, "/after").body == b"/after"
    server.wait_for("boom after complete", since=since)


def test_return_without_response_is_500(server):
    since = server.mark()
    with RawClient(server.port) as client:
        assert _get(client, "/no-response").status == 500
        assert _get(client, "/after").status == 200
    server.wait_for("returned without starting its response", since=since)


def test_return_mid_response_closes(server):
    since = server.mark()
    with RawClient(server.port) as client:
        client.send(b"GET /no-end HTTP/1.1\r\nHost: x\r\n\r\n")
        data = client.read_until_closed()
    assert b"partial" in data
    server.wait_for("returned without completing its response", since=since)


@pytest.mark.parametrize(
    ("kind", "logged"),
    [
        ("wrong-type", "expected 'http.response.start'"),
        ("body-first", "expected 'http.response.start'"),
        ("str-body", "'body' must be bytes"),
        ("str-headers", "header name and value must be bytes"),
        ("status-str", "'status' must be an int"),
        ("newline-header", "invalid characters in response header"),
        ("bad-length", "content-length must be a whole number"),
        ("start-twice", "expected 'http.response.body'"),
    ],
)
def test_invalid_message_before_body_is_500(server, kind, logged):
    since = server.mark()
    with RawClient(server.port) as client:
        response = _get(client, f"/bad/{kind}")
        assert response.status == 500
        assert _get(client, "/after").status == 200
    server.wait_for(logged, since=since)


def test_invalid_message_while_streaming_closes(server):
    since = server.mark()
    with RawClient(server.port) as client:
        client.send(b"GET /bad/streaming-str HTTP/1.1\r\nHost: x\r\n\r\n")
        data = client.read_until_closed()
    assert data.startswith(b"HTTP/1.1 200")
    server.wait_for("'body' must be bytes", since=since)


def test_message_after_complete_is_logged_connection_kept(server):
    since = server.mark()
    with RawClient(server.port) as client:
        assert _get(client, "/bad/after-complete").body == b"ok"
        assert _get(client, "/after").status == 200
    server.wait_for("the response is complete", since=since)


def test_http_timeout_answers_503(asgid):
    proc = asgid(APP, "--http-timeout", "0.3")
    with RawClient(proc.port) as client:
        response = _get(client, "/slow?seconds=30")
        assert response.status == 503
        assert _get(client, "/fast").body == b"/fast"
    proc.wait_for("did not respond in time")


def test_application_close_timeout_cancels_after_disconnect(server):
    since = server.mark()
    client = RawClient(server.port)
    client.send(b"GET /ignore-disconnect HTTP/1.1\r\nHost: x\r\n\r\n")
    server.wait_for("ignoring disconnect", since=since)
    client.close()
    server.wait_for("cancelled after disconnect", timeout=5, since=since)
    server.wait_for("still running", since=since)


def test_receive_after_response_gives_disconnect(server):
    since = server.mark()
    with RawClient(server.port) as client:
        assert _get(client, "/receive-after-response").body == b"done"
        server.wait_for("after response receive() gave http.disconnect", since=since)
        assert _get(client, "/after").status == 200
