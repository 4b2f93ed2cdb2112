"""Mutual TLS on asgid's ``https:`` endpoint: required / optional / none, bad client
certificates refused, and the ASGI ``tls`` scope as the app sees it over HTTP/1.1,
HTTP/2 and WebSocket; several TLS endpoints with their own certificates in one process."""

from __future__ import annotations

import datetime
import json
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trustme
import websockets
from cryptography import x509

from tests.support.server import AsgidProcess
from tests.support.tools import require_tool

APP = "tests.apps.h2:app"
MODES = ("required", "optional", "none")
# Refused in the handshake or, with TLS 1.3 (the client finishes first), by an alert on
# the first write or read; never a timeout.
REFUSED = (ssl.SSLError, httpx.NetworkError, httpx.RemoteProtocolError)


@dataclass
class PKI:
    """A server CA, a client CA, clients it signed (good, expired), one from a stranger CA."""

    directory: Path
    server_ca: trustme.CA
    client_ca: trustme.CA
    stranger_ca: trustme.CA

    def path(self, name: str) -> Path:
        return self.directory / name

    def client_context(self, client: str | None, *, alpn: str = "h2") -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.path("server-ca.pem")))
        context.set_alpn_protocols([alpn])
        if client is not None:
            context.load_cert_chain(str(self.path(client)))
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    directory = tmp_path_factory.mktemp("mtls")
    pki = PKI(directory, trustme.CA(), trustme.CA(), trustme.CA())
    pki.server_ca.cert_pem.write_to_path(str(pki.path("server-ca.pem")))
    pki.client_ca.cert_pem.write_to_path(str(pki.path("client-ca.pem")))
    for mode in MODES:  # one server certificate per endpoint, told apart by serial
        leaf = pki.server_ca.issue_cert("localhost", "127.0.0.1", common_name=f"server {mode}")
        leaf.cert_chain_pems[0].write_to_path(str(pki.path(f"{mode}.pem")))
        leaf.private_key_pem.write_to_path(str(pki.path(f"{mode}.key")))
    intermediate = pki.client_ca.create_child_ca()
    good = intermediate.issue_cert("alice@example.com", common_name="alice")
    good.private_key_and_cert_chain_pem.write_to_path(str(pki.path("good.pem")))
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=2)
    expired = pki.client_ca.issue_cert(
        "bob@example.com", common_name="bob", not_before=past, not_after=past
    )
    expired.private_key_and_cert_chain_pem.write_to_path(str(pki.path("expired.pem")))
    stranger = pki.stranger_ca.issue_cert("mallory@example.com", common_name="mallory")
    stranger.private_key_and_cert_chain_pem.write_to_path(str(pki.path("stranger.pem")))
    return pki


def endpoint(pki: PKI, mode: str) -> str:
    return (
        f"https:0:interface=127.0.0.1:certKey={pki.path(mode + '.pem')}"
        f":privateKey={pki.path(mode + '.key')}:caCerts={pki.path('client-ca.pem')}"
        f":certReqs={mode}"
    )


@pytest.fixture(scope="module", params=["uvloop", "asyncio"])
def servers(pki: PKI, request: pytest.FixtureRequest) -> Iterator[dict[str, int]]:
    """One process, three TLS endpoints (required, optional, none), each its own certificate."""
    proc = AsgidProcess(
        APP,
        "--access-log",
        "/dev/null",
        "--loop",
        request.param,
        endpoints=[endpoint(pki, mode) for mode in MODES],
    )
    yield {
        mode: int(address.rsplit(":", 1)[1])
        for mode, address in zip(MODES, proc.addresses, strict=True)
    }
    proc.stop()


def get_scope(port: int, context: ssl.SSLContext, *, http2: bool) -> dict:
    with httpx.Client(http1=not http2, http2=http2, verify=context, timeout=10) as client:
        response = client.get(f"https://localhost:{port}/scope")
    assert response.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
    return response.json()


@pytest.mark.parametrize("mode", ["required", "optional"])
@pytest.mark.parametrize("http2", [True, False])
def test_client_certificate_in_scope(
    pki: PKI, servers: dict[str, int], mode: str, http2: bool
) -> None:
    context = pki.client_context("good.pem", alpn="h2" if http2 else "http/1.1")
    tls = get_scope(servers[mode], context, http2=http2)["extensions"]["tls"]
    chain = tls["client_cert_chain"]
    sent = x509.load_pem_x509_certificates(pki.path("good.pem").read_bytes())
    assert [x509.load_pem_x509_certificate(pem.encode()) for pem in chain] == sent  # leaf first
    assert tls["client_cert_name"].startswith("CN=alice,")  # RFC 4514: most specific first
    assert tls["client_cert_error"] is None
    server_pem = pki.path(f"{mode}.pem").read_text()
    assert tls["server_cert"].strip() == server_pem.strip()
    assert tls["tls_version"] == 0x0304 and tls["cipher_suite"] in (0x1301, 0x1302, 0x1303)


async def test_client_certificate_in_websocket_scope(pki: PKI, servers: dict[str, int]) -> None:
    context = pki.client_context("good.pem", alpn="http/1.1")
    async with websockets.connect(f"wss://localhost:{servers['required']}/ws", ssl=context) as ws:
        scope = json.loads(await ws.recv())
    tls = scope["extensions"]["tls"]
    assert scope["scheme"] == "wss"
    assert tls["client_cert_name"].startswith("CN=alice,")
    assert len(tls["client_cert_chain"]) == 2 and tls["client_cert_error"] is None


@pytest.mark.parametrize("client", [None, "stranger.pem", "expired.pem"])
def test_required_refuses_missing_or_bad_certificates(
    pki: PKI, servers: dict[str, int], client: str | None
) -> None:
    context = pki.client_context(client, alpn="http/1.1")
    with pytest.raises(REFUSED):
        get_scope(servers["required"], context, http2=False)


@pytest.mark.parametrize("client", ["stranger.pem", "expired.pem"])
def test_optional_refuses_bad_certificates(pki: PKI, servers: dict[str, int], client: str) -> None:
    context = pki.client_context(client, alpn="h2")
    with pytest.raises(REFUSED):
        get_scope(servers["optional"], context, http2=True)


@pytest.mark.parametrize("mode", ["optional", "none"])
def test_no_client_certificate_gets_in(pki: PKI, servers: dict[str, int], mode: str) -> None:
    tls = get_scope(servers[mode], pki.client_context(None), http2=True)["extensions"]["tls"]
    assert tls["client_cert_chain"] == [] and tls["client_cert_name"] is None
    assert tls["client_cert_error"] is None


def test_none_does_not_ask_for_a_certificate(pki: PKI, servers: dict[str, int]) -> None:
    """With certReqs=none a client certificate is not requested, so none reaches the app."""
    context = pki.client_context("stranger.pem")
    tls = get_scope(servers["none"], context, http2=True)["extensions"]["tls"]
    assert tls["client_cert_chain"] == [] and tls["client_cert_name"] is None
    assert (
        "CN=server none"
        in x509.load_pem_x509_certificate(tls["server_cert"].encode()).subject.rfc4514_string()
    )


@pytest.mark.parametrize(
    ("mode", "client", "expected"),
    [
        ("required", "good.pem", "200 2 CN=alice"),
        ("required", None, "refused"),
        ("optional", "good.pem", "200 2 CN=alice"),
        ("optional", None, "200 2 -"),
        ("none", "good.pem", "200 2 -"),
    ],
)
def test_curl_client_certificates(
    pki: PKI, servers: dict[str, int], mode: str, client: str | None, expected: str
) -> None:
    curl = require_tool("curl", "curl")
    command = [curl, "-s", "--http2", "--cacert", str(pki.path("server-ca.pem"))]
    if client is not None:
        command += ["--cert", str(pki.path(client))]  # key and chain in the same PEM
    command.append(f"https://localhost:{servers[mode]}/scope")
    result = subprocess.run(
        [*command, "-w", "\\n%{http_code} %{http_version}"],
        capture_output=True, text=True, timeout=20,
    )  # fmt: skip
    if expected == "refused":
        assert result.returncode != 0 and not result.stdout.strip().startswith("{")
        return
    body, _, status = result.stdout.rpartition("\n")
    name = json.loads(body)["extensions"]["tls"]["client_cert_name"]
    seen = f"{status} {name.split(',')[0] if name else '-'}"
    assert seen == expected


async def test_docs_example_answers_https_and_wss_with_the_client_name(
    pki: PKI,
    asgid,  # type: ignore[no-untyped-def]
) -> None:
    """examples/tls_hello.py as docs/tls.md runs it: HTTP/2 with httpx, then a WebSocket."""
    proc = asgid("examples.tls_hello:app", endpoints=[endpoint(pki, "required")])
    with httpx.Client(http2=True, verify=pki.client_context("good.pem")) as client:
        text = client.get(f"https://localhost:{proc.port}/").text
    assert text.startswith("Hello over HTTP/2 (TLS 1.3, cipher suite 0x13")
    assert ", client CN=alice," in text
    context = pki.client_context("good.pem", alpn="http/1.1")
    async with websockets.connect(f"wss://localhost:{proc.port}/ws", ssl=context) as ws:
        message = await ws.recv()
    assert str(message).startswith("Hello over WebSocket (TLS 1.3") and "CN=alice," in message
