"""Every ASGI 2.4 HTTP scope field, over real sockets (TCP and unix), plus --root-path."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from tests.support.raw import RawClient
from tests.support.server import AsgidProcess

APP = "tests.apps.http:app"


@pytest.fixture(scope="module")
def server():
    proc = AsgidProcess(APP)
    yield proc
    proc.stop()


def _scope(port: int, request: bytes) -> dict:
    with RawClient(port) as client:
        client.send(request)
        return json.loads(client.read_response().body)


def test_every_scope_field(server):
    scope = _scope(
        server.port,
        b"GET /scope?x=1&y=%20 HTTP/1.1\r\nHost: example.com\r\nX-Dup: a\r\n"
        b"X-Other: 1\r\nx-dup: b\r\nX-CASE: MiXeD\r\n\r\n",
    )
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/scope"
    assert scope["raw_path"] == "/scope"
    assert scope["query_string"] == "x=1&y=%20"
    assert scope["root_path"] == ""
    # names lower-cased, values as sent, order and duplicates kept
    assert scope["headers"] == [
        ["host", "example.com"],
        ["x-dup", "a"],
        ["x-other", "1"],
        ["x-dup", "b"],
        ["x-case", "MiXeD"],
    ]
    assert scope["client"][0] == "127.0.0.1" and isinstance(scope["client"][1], int)
    assert scope["server"] == ["127.0.0.1", server.port]
    assert scope["state"] == {"greeting": "hello from lifespan"}
    assert "http.response.trailers" in scope["extensions"]


def test_path_is_percent_decoded_utf8(server):
    # /scope is routed by the decoded path: "%73cope" is "scope"
    scope = _scope(server.port, b"GET /%73cope/caf%C3%A9/%E2%82%AC HTTP/1.1\r\nHost: x\r\n\r\n")
    assert scope["path"] == "/scope/café/€"
    assert scope["raw_path"] == "/%73cope/caf%C3%A9/%E2%82%AC"


def test_http10_and_methods(server):
    scope = _scope(server.port, b"PATCH /scope HTTP/1.0\r\nContent-Length: 0\r\n\r\n")
    assert scope["http_version"] == "1.0"
    assert scope["method"] == "PATCH"


@pytest.mark.parametrize(
    ("version", "fields"),
    [
        (b"1.0", b"Connection: keep-alive\r\n"),
        (b"1.0", b"Proxy-Connection: keep-alive\r\n"),
        (b"1.0", b""),
        (b"1.1", b""),
        (b"1.1", b"Connection: close\r\n"),
    ],
)
def test_http_version_whatever_the_connection_fields(server, version, fields):
    # A keep-alive head is HTTP/1.1 unless a Connection field asked for keep-alive.
    scope = _scope(server.port, b"GET /scope HTTP/%s\r\nHost: x\r\n%s\r\n" % (version, fields))
    assert scope["http_version"] == version.decode()


def test_absolute_form_target(server):
    scope = _scope(server.port, b"GET http://example.com/scope?q=2 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert scope["path"] == "/scope"
    assert scope["query_string"] == "q=2"


def test_state_is_a_copy_per_request(server):
    first = httpx.get(server.url + "/scope").json()
    second = httpx.get(server.url + "/scope").json()
    assert first["state"] == second["state"] == {"greeting": "hello from lifespan"}


def test_unix_socket_scope_is_none_safe(asgid, tmp_path):
    path = tmp_path / "asgid.sock"
    proc = asgid(APP, endpoints=(f"unix:{path}",))
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(b"GET /scope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    scope = json.loads(data.partition(b"\r\n\r\n")[2])
    assert scope["client"] is None
    assert scope["server"] is None or scope["server"][1] is None
    assert proc.proc.poll() is None


def test_root_path(asgid):
    proc = asgid(APP, "--root-path", "/api")
    scope = httpx.get(proc.url + "/scope").json()
    assert scope["root_path"] == "/api"
    assert scope["path"] == "/api/scope"
    assert scope["raw_path"] == "/scope"


def test_fragment_is_not_part_of_the_path(server):
    # A client should not send one (RFC 9110 §4.2.5); if it does, it is no part of the path.
    scope = _scope(server.port, b"GET /scope/frag?q=1#part HTTP/1.1\r\nHost: x\r\n\r\n")
    assert scope["raw_path"] == "/scope/frag"
    assert scope["query_string"] == "q=1"


def test_extensions_written_by_an_app_reach_no_other_request(server):
    request = b"GET /scope HTTP/1.1\r\nHost: a\r\n\r\n"
    first = _scope(server.port, request)["extensions"]
    second = _scope(server.port, request)["extensions"]
    assert first["http.response.pathsend"] == {}
    assert second == first
