"""Certificates (via trustme) and TLS servers/clients for the TLS and HTTP/2 tests."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.support.server import AsgidProcess


class TLSFiles:
    """A CA, a server certificate for localhost/127.0.0.1 and a client certificate, on disk."""

    def __init__(self, directory: Path) -> None:
        self.ca = trustme.CA()
        server = self.ca.issue_cert("localhost", "127.0.0.1")
        client = self.ca.issue_cert("client@example.com", common_name="asgid test client")
        self.key = directory / "server.key"
        self.cert = directory / "server.pem"
        self.ca_pem = directory / "ca.pem"
        self.client_pem = directory / "client.pem"
        server.private_key_pem.write_to_path(str(self.key))
        server.cert_chain_pems[0].write_to_path(str(self.cert))
        self.ca.cert_pem.write_to_path(str(self.ca_pem))
        client.private_key_and_cert_chain_pem.write_to_path(str(self.client_pem))
        self.server_cert_pem = server.cert_chain_pems[0].bytes().decode()
        self.client_cert_pem = client.cert_chain_pems[0].bytes().decode()

    def endpoint(self, *extra: str) -> str:
        return ":".join(
            [f"ssl:0:interface=127.0.0.1:privateKey={self.key}:certKey={self.cert}", *extra]
        )

    def client_context(
        self, *, alpn: list[str] | None = None, client_cert: bool = False
    ) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_pem))
        context.set_alpn_protocols(alpn or ["h2"])
        if client_cert:
            context.load_cert_chain(str(self.client_pem))
        return context


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return TLSFiles(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_context(tls_files: TLSFiles) -> ssl.SSLContext:
    return tls_files.client_context()


@pytest.fixture(scope="module")
def tls_server(tls_files: TLSFiles) -> Iterator[AsgidProcess]:
    proc = AsgidProcess(
        "tests.apps.h2:app", "--access-log", "/dev/null", endpoints=[tls_files.endpoint()]
    )
    yield proc
    proc.stop()
