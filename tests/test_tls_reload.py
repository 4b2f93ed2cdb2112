"""Certificate reload without restart: SIGHUP and --ssl-reload-interval swap the certificate
for new handshakes, open connections carry on, a broken file keeps the old one, workers too."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from cryptography import x509

from tests.support.h2frames import RawH2
from tests.support.raw import wait_until
from tests.support.server import AsgidProcess

APP = "tests.apps.h2:app"


class CertFiles:
    """cert.pem/key.pem in one directory, replaced the way certbot does: whole new files."""

    def __init__(self, directory: Path) -> None:
        self.ca = trustme.CA()
        self.cert = directory / "cert.pem"
        self.key = directory / "key.pem"
        self.ca_pem = directory / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_pem))
        self.serial = self.issue()

    def issue(self) -> int:
        """Write a fresh certificate and key (atomic renames); return the new serial."""
        leaf = self.ca.issue_cert("localhost", "127.0.0.1")
        for path, blob in ((self.key, leaf.private_key_pem), (self.cert, leaf.cert_chain_pems[0])):
            blob.write_to_path(str(path) + ".new")
            os.replace(str(path) + ".new", path)
        self.serial = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).serial_number
        return self.serial

    def context(self, alpn: str = "http/1.1") -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_pem))
        context.set_alpn_protocols([alpn])
        return context

    def endpoint(self) -> str:
        cert, key = (str(p).replace(":", "\\:") for p in (self.cert, self.key))
        return f"https:0:interface=127.0.0.1:certKey={cert}:privateKey={key}"


def served_serial(port: int, context: ssl.SSLContext) -> int:
    """One new connection, one HTTP/1.1 request: the serial of the certificate it was shown."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            der = tls.getpeercert(binary_form=True)
            tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := tls.recv(65536):
                reply += chunk
    assert reply.startswith(b"HTTP/1.1 200"), reply[:100]
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


class ClientLoop(threading.Thread):
    """New connections back to back, counting the serials seen and every failure."""

    def __init__(self, port: int, context: ssl.SSLContext) -> None:
        super().__init__(daemon=True)
        self.port, self.context = port, context
        self.serials: Counter[int] = Counter()
        self.failures: list[BaseException] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.serials[served_serial(self.port, self.context)] += 1
            except Exception as exc:  # every refused or broken connection counts
                self.failures.append(exc)


@pytest.fixture
def files(tmp_path: Path) -> CertFiles:
    return CertFiles(tmp_path)


@pytest.fixture(params=["uvloop", "asyncio"])
def server(files: CertFiles, request: pytest.FixtureRequest) -> Iterator[AsgidProcess]:
    # A long keep-alive: the HTTP/2 connection opened before a swap idles while it happens.
    proc = AsgidProcess(
        APP,
        "--access-log", "/dev/null", "--timeout-keep-alive", "60", "--loop", request.param,
        endpoints=[files.endpoint()],
    )  # fmt: skip
    yield proc
    proc.stop()


def test_sighup_swaps_certificate_under_load(server: AsgidProcess, files: CertFiles) -> None:
    old = files.serial
    h2 = RawH2("127.0.0.1", server.port, tls=files.context("h2"))
    h2.handshake()
    h2.send(h2.headers(1, "/"))
    assert h2.body(1) == b"Hello, world!"
    loop = ClientLoop(server.port, files.context())
    loop.start()
    try:
        wait_until(lambda: loop.serials[old] >= 5)
        new = files.issue()
        server.signal(signal.SIGHUP)
        wait_until(lambda: loop.serials[new] >= 5)
    finally:
        loop.stop.set()
        loop.join(10)
    assert loop.failures == []
    # The HTTP/2 connection made before the swap still answers, on its old certificate.
    h2.send(h2.headers(3, "/"))
    assert h2.body(3) == b"Hello, world!"
    der = h2.sock.getpeercert(binary_form=True)  # type: ignore[attr-defined]
    assert x509.load_der_x509_certificate(der).serial_number == old
    h2.close()
    assert "TLS certificate reloaded" in server.output


def test_broken_files_keep_the_old_certificate(server: AsgidProcess, files: CertFiles) -> None:
    old = files.serial
    stranger = trustme.CA().issue_cert("localhost")
    stranger.private_key_pem.write_to_path(str(files.key))  # a key of another certificate
    server.signal(signal.SIGHUP)
    server.wait_for("does not belong to the certificate")
    assert served_serial(server.port, files.context()) == old
    files.key.unlink()  # unreadable
    server.signal(signal.SIGHUP)
    server.wait_for("cannot read the private key file")
    assert served_serial(server.port, files.context()) == old
    assert server.output.count("ERROR asgid.tls_context TLS reload failed, keeping the") == 2
    new = files.issue()  # fixed: the next SIGHUP takes it
    server.signal(signal.SIGHUP)
    server.wait_for("TLS certificate reloaded")
    assert served_serial(server.port, files.context()) == new


def test_reload_interval_picks_up_new_files(files: CertFiles, asgid) -> None:  # type: ignore[no-untyped-def]
    """--ssl-* for -p, given as ASGID_SSL_* variables, and the modification-time check."""
    env = {
        "ASGID_SSL_CERTFILE": str(files.cert),
        "ASGID_SSL_KEYFILE": str(files.key),
        "ASGID_SSL_RELOAD_INTERVAL": "0.1",
    }
    server = asgid(
        APP, "--access-log", "/dev/null", "-b", "127.0.0.1", "-p", "0", endpoints=(), env=env
    )
    old = files.serial
    assert served_serial(server.port, files.context()) == old
    new = files.issue()
    wait_until(lambda: served_serial(server.port, files.context()) == new)


def test_workers_reload_on_sighup(files: CertFiles, asgid) -> None:  # type: ignore[no-untyped-def]
    server = asgid(APP, "--access-log", "/dev/null", "--workers", "2", endpoints=[files.endpoint()])
    server.wait_for("asgid ready: 2 workers")
    new = files.issue()
    server.signal(signal.SIGHUP)
    wait_until(lambda: server.output.count("TLS certificate reloaded") == 2)
    # The kernel spreads connections over both workers; every one shows the new certificate.
    assert {served_serial(server.port, files.context()) for _ in range(20)} == {new}


@pytest.mark.parametrize("form", ["flags", "endpoint"])
def test_workers_serve_and_reload_files_whose_path_has_spaces_and_colons(
    tmp_path: Path,
    form: str,
    asgid,  # type: ignore[no-untyped-def]
) -> None:
    directory = tmp_path / "my certs: 2026"
    directory.mkdir()
    files = CertFiles(directory)
    if form == "flags":
        listen = ["-b", "127.0.0.1", "-p", "0", "--ssl-certfile", str(files.cert),
                  "--ssl-keyfile", str(files.key)]  # fmt: skip
        server = asgid(APP, "--workers", "2", *listen, endpoints=[])
    else:
        server = asgid(APP, "--workers", "2", endpoints=[files.endpoint()])
    server.wait_for("asgid ready: 2 workers")
    assert served_serial(server.port, files.context()) == files.serial
    new = files.issue()
    server.signal(signal.SIGHUP)
    wait_until(lambda: server.output.count("TLS certificate reloaded") == 2)
    assert {served_serial(server.port, files.context()) for _ in range(10)} == {new}


def test_every_worker_checks_the_files_and_keeps_a_good_certificate(
    files: CertFiles,
    asgid,  # type: ignore[no-untyped-def]
) -> None:
    server = asgid(
        APP, "--access-log", "/dev/null", "--workers", "2", "--ssl-reload-interval", "0.2",
        endpoints=[files.endpoint()],
    )  # fmt: skip
    server.wait_for("asgid ready: 2 workers")
    new = files.issue()
    wait_until(lambda: server.output.count("TLS certificate reloaded") == 2)
    assert {served_serial(server.port, files.context()) for _ in range(10)} == {new}
    # A check between the key's and the certificate's rename may have logged a mismatch.
    failed = "ERROR asgid.tls_context TLS reload failed"
    before = server.output.count(failed)
    files.key.write_text("-----BEGIN PRIVATE KEY-----\ntruncated by a failed copy\n")
    wait_until(lambda: server.output.count(failed) >= before + 2)
    assert {served_serial(server.port, files.context()) for _ in range(10)} == {new}
