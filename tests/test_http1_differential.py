"""Differential test against h11: where h11 (a strict reference) rejects a request head,
asgid's HTTP/1.1 wire rejects it too, before any app sees it."""

from __future__ import annotations

import h11
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.test_http1_inmemory import Harness

METHODS = [b"GET", b"POST", b"PUT", b"G\x00T", b"GE T", b"get", b"PRI", b""]
TARGETS = [b"/", b"/a?b=c", b"*", b"http://x/y", b"/a b", b"/\x01", b"", b"/\xff", b"/%zz"]
VERSIONS = [b"HTTP/1.1", b"HTTP/1.0", b"HTTP/1.1 ", b"http/1.1", b"HTTP/2.0", b"HTTP/1", b""]
SEPARATORS = [b" ", b"  ", b"\t", b""]
LINE_ENDS = [b"\r\n", b"\n", b"\r", b"\r\r\n"]
NAMES = [
    b"Host", b"Content-Length", b"Transfer-Encoding", b"Connection", b"X-A", b"X A",
    b"X\x00A", b"", b" X", b"X-A ", b"X(A)", b"Expect",
]  # fmt: skip
VALUES = [
    b"x", b"", b" x ", b"\tx", b"3", b"+3", b"-1", b"3, 3", b"3, 4", b"1 2", b"0x3",
    b"99999999999999999999", b"chunked", b"gzip, chunked", b"chunked, gzip", b"identity",
    b"a\x00b", b"a\x01b", b"a\rb", b"a\x7fb", b"close", b"100-continue", b"\xe9",
]  # fmt: skip
BODIES = [
    b"", b"abc", b"0\r\n\r\n", b"3\r\nabc\r\n0\r\n\r\n", b"zz\r\n", b"3;x=y\r\nabc\r\n0\r\n\r\n",
]  # fmt: skip


@st.composite
def heads(draw: st.DrawFn) -> bytes:
    end = draw(st.sampled_from(LINE_ENDS[:1] * 6 + LINE_ENDS))  # mostly well-formed lines
    line = draw(st.sampled_from(METHODS)) + draw(st.sampled_from(SEPARATORS[:1] * 6 + SEPARATORS))
    line += draw(st.sampled_from(TARGETS)) + draw(st.sampled_from(SEPARATORS[:1] * 6 + SEPARATORS))
    line += draw(st.sampled_from(VERSIONS))
    fields = draw(
        st.lists(
            st.tuples(
                st.sampled_from(NAMES),
                st.sampled_from([b": ", b":", b" : ", b":  "]),
                st.sampled_from(VALUES),
                st.booleans(),  # continued on an obs-fold line
            ),
            max_size=5,
        )
    )
    lines = [line]
    if draw(st.booleans()):
        lines.append(b"Host: x")
    for name, colon, value, folded in fields:
        lines.append(name + colon + value)
        if folded:
            lines.append(b" folded")
    return end.join(lines) + end + end + draw(st.sampled_from(BODIES))


def h11_rejects(data: bytes) -> bool:
    """Whether h11 refuses these bytes (a request it is still waiting on is not refused)."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    try:
        while True:
            event = conn.next_event()
            if isinstance(event, h11.EndOfMessage) or event in (h11.NEED_DATA, h11.PAUSED):
                return False
    except h11.RemoteProtocolError:
        return True


async def read_then_answer(scope, receive, send):
    """Read the whole body first, so a fault in it is found before any answer."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(heads())
def test_asgid_rejects_what_h11_rejects(head):
    if not h11_rejects(head):
        return
    harness = Harness(read_then_answer)
    try:
        harness.feed(head, bytewise=False)
        assert harness.output[:10] in (b"HTTP/1.1 4", b"HTTP/1.1 5"), (head, harness.output[:80])
        assert harness.closed
    finally:
        harness.close()
