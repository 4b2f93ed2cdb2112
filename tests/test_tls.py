"""The ASGI ``tls`` scope extension on every TLS connection (HTTP/1.1, HTTP/2, WebSocket),
TLS defaults, and the ``asgid-certs`` helper."""

from __future__ import annotations

import json
import shlex
import ssl
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme
from asgid.protocols.io.tls_info import CIPHER_SUITES, tls_extension
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL

from tests.support.server import AsgidProcess
from tests.support.tls_certs import TLSFiles

APP = "tests.apps.h2:app"


@pytest.fixture(scope="module")
def server(tls_files: TLSFiles) -> Iterator[AsgidProcess]:
    proc = AsgidProcess(APP, "--access-log", "/dev/null", endpoints=[tls_files.endpoint()])
    yield proc
    proc.stop()


def scope_over(server: AsgidProcess, context: ssl.SSLContext, *, http2: bool) -> dict:
    with httpx.Client(http1=not http2, http2=http2, verify=context) as client:
        response = client.get(f"https://localhost:{server.port}/scope")
    assert response.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
    return response.json()


@pytest.mark.parametrize("http2", [True, False])
def test_tls_scope_over_http(server: AsgidProcess, tls_files: TLSFiles, http2: bool) -> None:
    context = tls_files.client_context(alpn=["h2" if http2 else "http/1.1"])
    tls = scope_over(server, context, http2=http2)["extensions"]["tls"]
    assert tls["server_cert"].strip() == tls_files.server_cert_pem.strip()
    assert tls["tls_version"] == 0x0304
    assert tls["cipher_suite"] in (0x1301, 0x1302, 0x1303)
    assert tls["client_cert_chain"] == [] and tls["client_cert_name"] is None
    assert tls["client_cert_error"] is None


def test_tls_scope_with_tls_1_2(server: AsgidProcess, tls_files: TLSFiles) -> None:
    context = tls_files.client_context(alpn=["h2"])
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    tls = scope_over(server, context, http2=True)["extensions"]["tls"]
    assert tls["tls_version"] == 0x0303
    assert tls["cipher_suite"] in CIPHER_SUITES.values()


def test_plain_connections_have_no_tls_extension() -> None:
    proc = AsgidProcess(APP, "--access-log", "/dev/null")
    try:
        scope = httpx.get(proc.url + "/scope").json()
        assert "tls" not in scope["extensions"]
    finally:
        proc.stop()


async def test_tls_scope_over_websocket(server: AsgidProcess, tls_files: TLSFiles) -> None:
    websockets = pytest.importorskip("websockets")
    context = tls_files.client_context(alpn=["http/1.1"])
    async with websockets.connect(f"wss://localhost:{server.port}/ws", ssl=context) as ws:
        scope = json.loads(await ws.recv())
    assert scope["scheme"] == "wss"
    assert scope["extensions"]["tls"]["tls_version"] == 0x0304


def test_tls_below_1_2_is_refused(server: AsgidProcess, tls_files: TLSFiles) -> None:
    context = tls_files.client_context(alpn=["http/1.1"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # asking for TLS 1.1 on purpose
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("ALL:@SECLEVEL=0")
    with pytest.raises((ssl.SSLError, httpx.ConnectError)):
        scope_over(server, context, http2=False)


def test_client_certificate_chain_and_name() -> None:
    """The extension as read from a finished handshake that carried a client certificate."""
    ca = trustme.CA()
    server_cert = ca.issue_cert("localhost")
    client_cert = ca.issue_cert("client@example.com", common_name="asgid test client")

    def context(cert: trustme.LeafCert, server: bool) -> SSL.Context:
        ctx = SSL.Context(SSL.TLS_METHOD)
        ctx.use_certificate(x509.load_pem_x509_certificate(cert.cert_chain_pems[0].bytes()))
        ctx.use_privatekey(serialization.load_pem_private_key(cert.private_key_pem.bytes(), None))
        if server:
            ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *a: True)
        return ctx

    server = SSL.Connection(context(server_cert, True), None)
    server.set_accept_state()
    client = SSL.Connection(context(client_cert, False), None)
    client.set_connect_state()
    for _ in range(10):
        for side, other in ((client, server), (server, client)):
            try:
                side.do_handshake()
            except SSL.WantReadError:
                pass
            while True:
                try:
                    other.bio_write(side.bio_read(65536))
                except SSL.WantReadError:
                    break

    class Transport:
        def getHandle(self) -> SSL.Connection:
            return server

    tls = tls_extension(Transport())
    assert tls["server_cert"].strip() == server_cert.cert_chain_pems[0].bytes().decode().strip()
    assert (
        tls["client_cert_chain"][0].strip()
        == client_cert.cert_chain_pems[0].bytes().decode().strip()
    )
    assert "CN=asgid test client" in tls["client_cert_name"]
    assert tls["tls_version"] == 0x0304 and tls["client_cert_error"] is None


@pytest.mark.parametrize("form", ["serve with: ", "or as an endpoint: "])
def test_asgid_certs_prints_commands_that_serve_its_pair(tmp_path: Path, form: str) -> None:
    directory = tmp_path / "my certs: local"
    script = Path(sys.executable).parent / "asgid-certs"
    result = subprocess.run(
        [str(script), str(directory)], capture_output=True, text=True, check=True, timeout=30
    )
    assert "ssl:" not in result.stdout
    (line,) = [ln for ln in result.stdout.splitlines() if ln.startswith(form)]
    command = shlex.split(line.removeprefix(form))
    assert command[0] == "asgid" and command[-1] == "APP"
    cert, key = directory / "cert.pem", directory / "key.pem"
    assert key.stat().st_mode & 0o077 == 0
    # The printed command as given, on a free port instead of 8443.
    args = [arg.replace("8443", "0") for arg in command[1:-1]]
    if form.startswith("serve"):
        proc = AsgidProcess(APP, "--access-log", "/dev/null", *args, endpoints=[])
    else:
        proc = AsgidProcess(APP, "--access-log", "/dev/null", endpoints=[args[1]])
    try:
        with httpx.Client(
            http2=True, verify=ssl.create_default_context(cafile=str(cert))
        ) as client:
            response = client.get(f"https://localhost:{proc.port}/")
        assert response.text == "Hello, world!" and response.http_version == "HTTP/2"
    finally:
        proc.stop()
