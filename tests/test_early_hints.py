"""103 Early Hints (RFC 8297) from the ASGI ``http.response.early_hint`` extension: a raw
HTTP/1.1 client sees the interim response, an HTTP/1.0 client does not, HTTP/2 gets an
interim HEADERS frame before the final one."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from hpack import Decoder
from hyperframe.frame import DataFrame, HeadersFrame

from tests.support.h2frames import RawH2
from tests.support.raw import RawClient
from tests.support.server import AsgidProcess

APP = "tests.apps.early_hints:app"


@pytest.fixture(scope="module", params=["uvloop", "asyncio"])
def server(request: pytest.FixtureRequest) -> Iterator[AsgidProcess]:
    proc = AsgidProcess(APP, "--access-log", "/dev/null", "--loop", request.param)
    yield proc
    proc.stop()


def test_http11_client_gets_103_before_the_response(server: AsgidProcess) -> None:
    with RawClient(server.port) as client:
        client.send(b"GET /twice HTTP/1.1\r\nHost: x\r\n\r\n")
        first = client.read_response()
        second = client.read_response()
        final = client.read_response()
    assert (first.status, second.status, final.status) == (103, 103, 200)
    assert first.reason == "Early Hints"
    assert [v for k, v in first.headers if k == "link"] == [
        "</style.css>; rel=preload; as=style",
        "</app.js>; rel=preload; as=script",
    ]
    assert [v for k, v in second.headers if k == "link"] == ["</font.woff2>; rel=preload"]
    assert json.loads(final.body) == {"advertised": True, "http_version": "1.1"}


def test_http10_client_gets_only_the_response(server: AsgidProcess) -> None:
    with RawClient(server.port) as client:
        client.send(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        data = client.read_until_closed()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and b" 103 " not in data
    assert json.loads(data.split(b"\r\n\r\n", 1)[1]) == {"advertised": False, "http_version": "1.0"}


def h2_header_blocks(server: AsgidProcess, path: str) -> tuple[list, bytes]:
    """Every HEADERS block of stream 1 (decoded, with flags) up to its first DATA frame."""
    with RawH2("127.0.0.1", server.port) as h2:
        h2.handshake()
        h2.send(h2.headers(1, path))
        decoder = Decoder()
        blocks = []
        while True:
            frame = h2.expect(
                lambda f: f.stream_id == 1 and isinstance(f, (HeadersFrame, DataFrame))
            )
            if isinstance(frame, DataFrame):
                return blocks, frame.data
            blocks.append((decoder.decode(frame.data, raw=True), set(frame.flags)))


def test_http2_interim_headers_frame(server: AsgidProcess) -> None:
    blocks, data = h2_header_blocks(server, "/")
    (interim, interim_flags), (final, _) = blocks
    assert interim[0] == (b":status", b"103") and "END_STREAM" not in interim_flags
    assert (b"link", b"</style.css>; rel=preload; as=style") in interim
    assert (b"link", b"</app.js>; rel=preload; as=script") in interim
    assert final[0] == (b":status", b"200")
    assert json.loads(data) == {"advertised": True, "http_version": "2"}


def test_http2_several_hints_each_an_interim_frame(server: AsgidProcess) -> None:
    blocks, _ = h2_header_blocks(server, "/twice")
    statuses = [headers[0] for headers, _ in blocks]
    assert statuses == [(b":status", b"103"), (b":status", b"103"), (b":status", b"200")]
    assert (b"link", b"</font.woff2>; rel=preload") in blocks[1][0]
    assert all("END_STREAM" not in flags for _, flags in blocks)


@pytest.mark.parametrize("http2", [False, True])
def test_hint_after_the_response_started_is_an_app_error(server: AsgidProcess, http2: bool) -> None:
    """Like any message out of order: send() raises; uncaught, the response is a 500."""
    with httpx.Client(http1=not http2, http2=http2, base_url=server.url) as client:
        caught = client.get("/late-caught")
        mark = server.mark()
        uncaught = client.get("/late")
    assert caught.status_code == 200 and caught.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
    assert caught.text == (
        "UnexpectedMessage: expected 'http.response.body' (early hints go before "
        "'http.response.start'), got 'http.response.early_hint'"
    )
    assert uncaught.status_code == 500
    server.wait_for("early hints go before 'http.response.start'", since=mark)


def test_links_that_are_not_bytes_are_an_app_error(server: AsgidProcess) -> None:
    with RawClient(server.port) as client:
        client.send(b"GET /bad HTTP/1.1\r\nHost: x\r\n\r\n")
        response = client.read_response()
    assert response.status == 500
    server.wait_for("'links' must be a list of byte strings")


@pytest.mark.parametrize(
    ("request_line", "interim"),
    [
        (
            b"GET / HTTP/1.1",
            b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload; as=style\r\n"
            b"link: </app.js>; rel=preload; as=script\r\n\r\n",
        ),
        (b"GET / HTTP/1.0", b""),
    ],
)
def test_interim_bytes_in_memory(request_line: bytes, interim: bytes) -> None:
    """Exact bytes, request fed one byte at a time (StringTransport + MemoryReactorClock)."""
    from tests.apps.early_hints import app
    from tests.test_http1_inmemory import Harness

    harness = Harness(app)
    try:
        harness.feed(request_line + b"\r\nHost: x\r\n\r\n")
        assert harness.output.startswith(interim + b"HTTP/1.1 200 OK\r\n")
        assert harness.output.count(b"103 Early Hints") == (1 if interim else 0)
    finally:
        harness.close()
