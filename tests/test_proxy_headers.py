"""Proxy headers: the pure resolver, then real requests through --proxy-headers and friends."""

from __future__ import annotations

import httpx
import pytest
from asgid.proxy_headers import TrustedProxies, resolve

PEER = ("10.0.0.1", 5000)
SERVER = ("127.0.0.1", 8000)
APP = "tests.apps.http:app"


def _resolve(headers, trusted=("*",), **kwargs):
    return resolve(
        [(name.lower(), value) for name, value in headers],
        client=PEER,
        scheme="http",
        server=SERVER,
        trusted=TrustedProxies.parse(trusted),
        **kwargs,
    )


def test_x_forwarded_family():
    view = _resolve(
        [
            (b"x-forwarded-for", b"203.0.113.7"),
            (b"x-forwarded-port", b"4711"),
            (b"x-forwarded-proto", b"https"),
            (b"x-forwarded-host", b"example.com"),
        ]
    )
    assert view.client == ("203.0.113.7", 4711)
    assert view.scheme == "https"
    assert view.server == ("example.com", 443)


def test_trust_everyone_takes_left_most_like_daphne():
    view = _resolve([(b"x-forwarded-for", b"203.0.113.7, 10.1.1.1, 10.2.2.2")])
    assert view.client == ("203.0.113.7", 0)


def test_trusted_networks_take_first_untrusted_from_the_right():
    headers = [(b"x-forwarded-for", b"6.6.6.6, 203.0.113.7, 10.1.1.1")]
    view = _resolve(headers, trusted=("10.0.0.0/8",))
    assert view.client == ("203.0.113.7", 0)  # 6.6.6.6 was written by the client: untrusted


def test_repeated_headers_are_one_list():
    headers = [(b"x-forwarded-for", b"203.0.113.7"), (b"x-forwarded-for", b"10.1.1.1")]
    assert _resolve(headers, trusted=("10.0.0.0/8",)).client == ("203.0.113.7", 0)


def test_forwarded_rfc7239():
    view = _resolve([(b"forwarded", b'for="[2001:db8::1]:4711";proto=https;host=example.com:8443')])
    assert view.client == ("2001:db8::1", 4711)
    assert view.scheme == "https"
    assert view.server == ("example.com", 8443)


def test_forwarded_wins_and_walks_its_chain():
    view = _resolve(
        [
            (b"x-forwarded-for", b"1.1.1.1"),
            (b"forwarded", b"for=6.6.6.6, for=203.0.113.7;proto=http, for=10.9.9.9;proto=https"),
        ],
        trusted=("10.0.0.0/8",),
    )
    assert view.client == ("203.0.113.7", 0)
    assert view.scheme == "https"


def test_forwarded_unknown_and_obfuscated_keep_peer():
    assert _resolve([(b"forwarded", b"for=unknown")]).client == PEER
    assert _resolve([(b"forwarded", b"for=_hidden")]).client == PEER


def test_odd_values_are_ignored():
    view = _resolve(
        [
            (b"x-forwarded-proto", b"gopher"),
            (b"x-forwarded-port", b"99999"),
            (b"x-forwarded-for", b"1.2.3.4"),
        ]
    )
    assert view.scheme == "http"
    assert view.client == ("1.2.3.4", 0)


def test_ws_schemes_map_to_http_ones():
    assert _resolve([(b"x-forwarded-proto", b"wss")]).scheme == "https"


def test_custom_header_names_and_root_path():
    view = _resolve(
        [
            (b"x-real-ip", b"198.51.100.2"),
            (b"x-real-port", b"81"),
            (b"daphne-root-path", b"/my%20app/"),
        ],
        host_header=b"x-real-ip",
        port_header=b"x-real-port",
    )
    assert view.client == ("198.51.100.2", 81)
    assert view.root_path == "/my app"


def test_xff_with_ports_and_ipv6():
    assert _resolve([(b"x-forwarded-for", b"[2001:db8::2]:99")]).client == ("2001:db8::2", 99)
    assert _resolve([(b"x-forwarded-for", b"2001:db8::3")]).client == ("2001:db8::3", 0)
    assert _resolve([(b"x-forwarded-for", b"1.2.3.4:77")]).client == ("1.2.3.4", 77)


# -- over real sockets ---------------------------------------------------------------------------
HEADERS = {
    "X-Forwarded-For": "203.0.113.7",
    "X-Forwarded-Port": "4711",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "example.com",
    "Daphne-Root-Path": "/mounted",
}


def test_proxy_headers_trust_every_peer_like_daphne(asgid):
    server = asgid(APP, "--proxy-headers")
    scope = httpx.get(server.url + "/scope", headers=HEADERS).json()
    assert scope["client"] == ["203.0.113.7", 4711]
    assert scope["scheme"] == "https"
    assert scope["server"] == ["example.com", 443]
    assert scope["root_path"] == "/mounted"
    assert scope["path"] == "/mounted/scope"


def test_untrusted_peer_is_ignored(asgid):
    server = asgid(
        APP, "--proxy-headers", "--forwarded-allow-ips", "10.0.0.0/8", "--root-path", "/cfg"
    )
    scope = httpx.get(server.url + "/scope", headers=HEADERS).json()
    assert scope["client"][0] == "127.0.0.1"
    assert scope["scheme"] == "http"
    assert scope["server"] == ["127.0.0.1", server.port]
    assert scope["root_path"] == "/cfg"  # Daphne-Root-Path only from a trusted proxy


def test_without_proxy_headers_nothing_is_read(asgid):
    server = asgid(APP)
    scope = httpx.get(server.url + "/scope", headers=HEADERS).json()
    assert scope["client"][0] == "127.0.0.1" and scope["scheme"] == "http"
    assert scope["root_path"] == ""


def test_forwarded_allow_ips_and_custom_names(asgid):
    server = asgid(
        APP,
        "--forwarded-allow-ips", "127.0.0.1",
        "--proxy-headers-host", "X-Real-IP",
        "--proxy-headers-port", "X-Real-Port",
    )  # fmt: skip
    scope = httpx.get(
        server.url + "/scope", headers={"X-Real-IP": "198.51.100.2", "X-Real-Port": "81"}
    ).json()
    assert scope["client"] == ["198.51.100.2", 81]
    scope = httpx.get(
        server.url + "/scope",
        headers={"Forwarded": 'for="[2001:db8::1]:4711";proto=https;host=example.org'},
    ).json()
    assert scope["client"] == ["2001:db8::1", 4711]
    assert scope["scheme"] == "https"
    assert scope["server"] == ["example.org", 443]


@pytest.mark.parametrize("bad", ["not-an-ip", "10.0.0.0/99"])
def test_bad_forwarded_allow_ips_is_a_clear_error(bad):
    from tests.support.server import run_cli

    result = run_cli(APP, "--forwarded-allow-ips", bad)
    assert result.returncode != 0
    assert "forwarded-allow-ips" in result.stderr
