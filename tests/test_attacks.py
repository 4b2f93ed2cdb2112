"""The attacks of ``make attacks``, once each: the attacker is cut off and the server's
memory stays bounded (no timing assertions; the figures come from ``make attacks``)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psutil
import pytest

from tests.attacks import attacks
from tests.support.server import AsgidProcess
from tests.support.tls_certs import TLSFiles

RSS_MARGIN = 64 * 2**20  # what one attack may add to the server's resident memory
CUT_OFF = {
    "rapid reset": attacks.rapid_reset,
    "CONTINUATION flood": attacks.continuation_flood,
    "HPACK bomb": attacks.hpack_bomb,
    "SETTINGS flood": attacks.settings_flood,
    "PING flood": attacks.ping_flood,
    "oversized header list": attacks.oversized_headers,
}


@pytest.fixture(scope="module")
def server(tls_files: TLSFiles) -> Iterator[AsgidProcess]:
    proc = AsgidProcess(
        "tests.apps.h2:app",
        "--access-log", "/dev/null", "--timeout-request-headers", "2",
        endpoints=["tcp:0:interface=127.0.0.1", tls_files.endpoint()],
    )  # fmt: skip
    yield proc
    proc.stop()


@pytest.fixture
def rss_bounded(server: AsgidProcess) -> Iterator[None]:
    process = psutil.Process(server.proc.pid)
    before = process.memory_info().rss
    yield
    assert process.memory_info().rss - before < RSS_MARGIN
    with httpx.Client(http1=False, http2=True) as client:  # still serving
        assert client.get(server.url + "/").status_code == 200


@pytest.mark.parametrize("attack", CUT_OFF.values(), ids=CUT_OFF.keys())
def test_h2_attacker_is_cut_off(server, rss_bounded, attack):
    outcome = attack(server.port)
    assert outcome.stopped, outcome
    assert outcome.cut_off.startswith("GOAWAY"), outcome


def test_streams_beyond_the_limit_are_refused_one_by_one(server, rss_bounded):
    """RFC 9113 §5.1.2: 150 held streams against the default limit of 100: the 50 extra
    ones are refused (RST_STREAM), the connection is not ended for it."""
    outcome = attacks.streams_held(server.port, hold_s=1.0)
    assert outcome.work.startswith("150 streams opened, 50 refused"), outcome


def test_zero_window_hold_keeps_memory_bounded(server, rss_bounded):
    attacks.zero_window_hold(server.port, hold_s=1.0)


@pytest.mark.parametrize("attack", [attacks.tls_garbage, attacks.tls_trickle])
def test_tls_attacker_is_cut_off(server, rss_bounded, attack):
    tls_port = int(server.addresses[1].rsplit(":", 1)[1])
    outcome = attack(tls_port)
    assert outcome.cut_off in ("closed", "reset"), outcome
