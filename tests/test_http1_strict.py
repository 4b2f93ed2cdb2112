"""HTTP/1.1 heads that could be read two ways are refused: 400 (or 501) and the connection
closed, while the next connection is served (RFC 9112 §11.2 request smuggling)."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.h2frames import PROTOCOL_ERROR, RawH2
from tests.support.raw import RawClient
from tests.support.server import AsgidProcess
from tests.support.ws_frames import TEXT, RawSocket, frame, handshake_request

POST = b"POST /echo HTTP/1.1\r\nHost: x\r\n"
CHUNKED = POST + b"Transfer-Encoding: chunked\r\n\r\n"

MALFORMED = {
    # obsolete line folding (RFC 9112 §5.2)
    "obs-fold space": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n",
    "obs-fold tab": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tfolded\r\n\r\n",
    "fold before first field": b"GET / HTTP/1.1\r\n X: a\r\nHost: x\r\n\r\n",
    # whitespace between field name and colon (RFC 9112 §5.1)
    "space before colon": b"GET / HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n",
    "tab before colon": b"GET / HTTP/1.1\r\nHost: x\r\nX-A\t: b\r\n\r\n",
    "space before colon, CL": POST + b"Content-Length : 3\r\n\r\nabc",
    "space before colon, TE": POST + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    # both framings (RFC 9112 §6.3)
    "CL then TE": POST + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "TE then CL": POST + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
    # Content-Length: differing, malformed
    "CL differing": POST + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    "CL repeated": POST + b"Content-Length: 2\r\nContent-Length: 2\r\n\r\nab",
    "CL plus sign": POST + b"Content-Length: +3\r\n\r\nabc",
    "CL minus sign": POST + b"Content-Length: -3\r\n\r\nabc",
    "CL list": POST + b"Content-Length: 3, 3\r\n\r\nabc",
    "CL differing list": POST + b"Content-Length: 3, 4\r\n\r\nabc",
    "CL inner space": POST + b"Content-Length: 1 2\r\n\r\nabc",
    "CL hex": POST + b"Content-Length: 0x3\r\n\r\nabc",
    "CL empty": POST + b"Content-Length: \r\n\r\nabc",
    "CL overflow": POST + b"Content-Length: 99999999999999999999999\r\n\r\nabc",
    "CL decimal point": POST + b"Content-Length: 3.0\r\n\r\nabc",
    "CL non-ASCII digit": POST + "Content-Length: \u0663\r\n\r\nabc".encode(),
    # Transfer-Encoding other than one final chunked
    "TE chunked not final": POST + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    "TE chunked twice": POST + b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
    "TE field twice": POST
    + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "TE empty": POST + b"Transfer-Encoding: \r\n\r\n",
    "TE vertical tab": POST + b"Transfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n",
    "TE in HTTP/1.0": b"POST /echo HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"0\r\n\r\n",
    # chunk sizes and extensions (RFC 9112 §7.1)
    "chunk size not hex": CHUNKED + b"zz\r\n",
    "chunk size negative": CHUNKED + b"-1\r\n",
    "chunk size 0x": CHUNKED + b"0x5\r\nabcde\r\n0\r\n\r\n",
    "chunk size leading space": CHUNKED + b" 5\r\nabcde\r\n0\r\n\r\n",
    "chunk size overflow": CHUNKED + b"FFFFFFFFFFFFFFFFFFFF\r\nab\r\n",
    "chunk size empty": CHUNKED + b"\r\nabc\r\n",
    "chunk data longer than size": CHUNKED + b"3\r\nabcdef\r\n0\r\n\r\n",
    "chunk size line bare LF": CHUNKED + b"3\nabc\r\n0\r\n\r\n",
    "chunk extension control byte": CHUNKED + b"3;a\x01\r\nabc\r\n0\r\n\r\n",
    "chunk extension 200 KiB": CHUNKED + b"3;" + b"a" * 200_000 + b"\r\nabc\r\n0\r\n\r\n",
    # bare CR, NUL and control bytes
    "bare CR in value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
    "bare CR ending request line": b"GET / HTTP/1.1\rHost: x\r\n\r\n",
    "bare CR ending field": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\r\n\r\n",
    "bare LF head": b"GET / HTTP/1.1\nHost: x\n\n",
    "NUL in value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "NUL in name": b"GET / HTTP/1.1\r\nHost: x\r\nX\x00A: b\r\n\r\n",
    "SOH in value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",
    "DEL in value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n",
    "ESC in value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x1bb\r\n\r\n",
    "control byte in name": b"GET / HTTP/1.1\r\nHost: x\r\nX\x01A: b\r\n\r\n",
    "NUL in target": b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    "control byte in target": b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
    # request line (RFC 9112 §3: method SP target SP version)
    "two spaces before target": b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
    "two spaces before version": b"GET /  HTTP/1.1\r\nHost: x\r\n\r\n",
    "tab before target": b"GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n",
    "tab before version": b"GET /\tHTTP/1.1\r\nHost: x\r\n\r\n",
    "space after version": b"GET / HTTP/1.1 \r\nHost: x\r\n\r\n",
    "space before method": b" GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "space in target": b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
    "lower-case version": b"GET / http/1.1\r\nHost: x\r\n\r\n",
    # field names and Host (RFC 9112 §3.2, §5.1)
    "space in name": b"GET / HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n",
    "empty name": b"GET / HTTP/1.1\r\nHost: x\r\n: b\r\n\r\n",
    "no colon": b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n",
    "no Host": b"GET / HTTP/1.1\r\n\r\n",
    "two Hosts": b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
    "Host with a space": b"GET / HTTP/1.1\r\nHost: x y\r\n\r\n",
    "Host with a path": b"GET / HTTP/1.1\r\nHost: x/y\r\n\r\n",
}

# RFC 9112 §6.1: a transfer coding the server does not understand gets 501.
NOT_IMPLEMENTED = {
    "TE gzip": POST + b"Transfer-Encoding: gzip\r\n\r\nabc",
    "TE gzip, chunked": POST + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "TE identity": POST + b"Transfer-Encoding: identity\r\n\r\nabc",
    "TE xchunked": POST + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
}


@pytest.fixture(scope="module")
def server():
    proc = AsgidProcess("tests.apps.http:app")
    yield proc
    proc.stop()


def _assert_refused(server: AsgidProcess, request: bytes, status: int) -> None:
    with RawClient(server.port) as client:
        try:
            client.send(request)
        except ConnectionResetError:
            pass  # refused while the rest of a long request was still on its way
        response = client.read_response()
        assert response.status == status, response
        assert response.header("connection") == "close"
        assert client.read_until_closed() == b""
    assert httpx.get(server.url + "/path").text == "/path"


def test_at_least_forty_heads_in_the_table():
    assert len(MALFORMED) >= 40


@pytest.mark.parametrize("request_bytes", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_head_gets_400_and_close(server, request_bytes):
    _assert_refused(server, request_bytes, 400)


@pytest.mark.parametrize("request_bytes", NOT_IMPLEMENTED.values(), ids=NOT_IMPLEMENTED.keys())
def test_unknown_transfer_coding_gets_501_and_close(server, request_bytes):
    _assert_refused(server, request_bytes, 501)


def test_field_values_reach_the_scope_without_surrounding_whitespace(server):
    with RawClient(server.port) as client:
        client.send(b"GET /scope HTTP/1.1\r\nHost: x\r\nX-A:  a  b \t\r\nX-B:\t\r\n\r\n")
        scope = json.loads(client.read_response().body)
    assert ["x-a", "a  b"] in scope["headers"]
    assert ["x-b", ""] in scope["headers"]


def test_broken_h2c_preface_gets_goaway_protocol_error(server):
    """h2spec 3.5 #2 over cleartext: the preface starts, then breaks."""
    client = RawH2("127.0.0.1", server.port)
    try:
        client.send(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
        assert client.expect_goaway().error_code == PROTOCOL_ERROR
        client.expect_closed()
    finally:
        client.sock.close()


def test_upgrade_head_found_despite_method_in_a_header_value(asgid):
    ws = asgid("tests.apps.ws:echo")
    decoy = ["X-Decoy: GET /decoy HTTP/1.1", "X-Other: xGET y"]
    with RawSocket(ws.port) as sock:
        sock.send(handshake_request("x", "/room", extra=decoy))
        assert sock.open_response() == 101
        sock.send(frame(TEXT, b"hello"))
        assert sock.read_frame().payload == b"hello"
