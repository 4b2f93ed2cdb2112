"""What a TLS client meets: every ``--ssl-*`` setting from ``ASGID_SSL_*`` variables, the
cipher list and minimum version as ``openssl s_client`` sees them, the cipher suite number
the app is told, and HTTP/1.1 for clients that offer no ALPN protocol we speak."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from asgid.cli import config_from_args, parse_args
from asgid.tls_options import TLSOptions, parse_min_version
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.support.server import AsgidProcess

APP = "tests.apps.h2:app"
# TLS 1.2: ECDHE with AES-256 (any mode) or with SHA-1 MACs (CBC); no AES-128-GCM.
CIPHERS = "ECDHE+AES256:ECDHE+SHA1"


class Files:
    def __init__(self, directory: Path) -> None:
        self.ca = trustme.CA()
        leaf = self.ca.issue_cert("localhost", "127.0.0.1")
        self.client = self.ca.issue_cert("alice@example.com", common_name="alice")
        self.cert, self.key = directory / "cert.pem", directory / "key.enc.pem"
        self.ca_pem, self.client_pem = directory / "ca.pem", directory / "client.pem"
        leaf.cert_chain_pems[0].write_to_path(str(self.cert))
        key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
        self.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"s3cret"),
            )
        )
        self.ca.cert_pem.write_to_path(str(self.ca_pem))
        self.client.private_key_and_cert_chain_pem.write_to_path(str(self.client_pem))

    def environment(self) -> dict[str, str]:
        """Every TLS setting of the -b/-p listener, as variables only."""
        return {
            "ASGID_HOST": "127.0.0.1",
            "ASGID_PORT": "0",
            "ASGID_SSL_CERTFILE": str(self.cert),
            "ASGID_SSL_KEYFILE": str(self.key),
            "ASGID_SSL_KEYFILE_PASSWORD": "s3cret",
            "ASGID_SSL_CA_CERTS": str(self.ca_pem),
            "ASGID_SSL_CERT_REQS": "1",
            "ASGID_SSL_CIPHERS": CIPHERS,
            "ASGID_SSL_MIN_VERSION": "TLSv1.2",
            "ASGID_SSL_RELOAD_INTERVAL": "30",
            "ASGID_NO_HTTP2": "1",
        }


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    return Files(tmp_path_factory.mktemp("tls-handshake"))


def test_every_tls_setting_has_a_variable(files: Files) -> None:
    env = files.environment()
    config = config_from_args(parse_args([APP], env), env)
    assert config.ssl == TLSOptions(
        certfile=str(files.cert), keyfile=str(files.key), keyfile_password="s3cret",
        ca_certs=str(files.ca_pem), cert_reqs="optional", ciphers=CIPHERS, min_version="1.2",
    )  # fmt: skip
    assert config.ssl_reload_interval_s == 30.0 and config.http2 is False


@pytest.mark.parametrize(
    ("spellings", "version"),
    [
        (["1.2", "TLSv1.2", "TLSv1_2", "tls1.2", "TLS 1.2", "ssl.TLSVersion.TLSv1_2"], "1.2"),
        (["1.3", "TLSv1.3", "TLSv1_3", "tls1.3", "TLS 1.3", "TLSVersion.TLSv1_3"], "1.3"),
    ],
)
def test_min_version_spellings(spellings: list[str], version: str) -> None:
    assert {parse_min_version(text) for text in spellings} == {version}


@pytest.fixture(scope="module", params=["uvloop", "asyncio"])
def env_server(files: Files, request: pytest.FixtureRequest) -> Iterator[AsgidProcess]:
    env = {**files.environment(), "ASGID_LOOP": request.param}
    proc = AsgidProcess(APP, "--access-log", "/dev/null", endpoints=(), env=env)
    yield proc
    proc.stop()


def s_client(port: int, *args: str, send: str = "") -> str:
    result = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
         *(["-ign_eof"] if send else []), *args],
        input=send, capture_output=True, text=True, timeout=20,
    )  # fmt: skip
    return result.stdout + result.stderr


def test_ciphers_restrict_tls_1_2(env_server: AsgidProcess) -> None:
    refused = s_client(env_server.port, "-tls1_2", "-cipher", "ECDHE+AESGCM+AES128")
    assert "handshake failure" in refused and "Cipher is (NONE)" in refused
    allowed = s_client(env_server.port, "-tls1_2", "-cipher", "ECDHE+AES256")
    assert "New, TLSv1.2, Cipher is ECDHE-" in allowed and "AES256" in allowed
    # TLS 1.3 suites are not governed by the TLS 1.2 cipher list.
    assert "New, TLSv1.3, Cipher is TLS_" in s_client(env_server.port, "-tls1_3")


def test_variables_make_the_listener(env_server: AsgidProcess, files: Files) -> None:
    """No HTTP/2 offered, an optional client certificate, the key password from a variable,
    and the cipher suite number the app sees is the one the client negotiated."""
    context = ssl.create_default_context(cafile=str(files.ca_pem))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE+SHA1")  # a CBC suite, outside the usual defaults
    context.set_alpn_protocols(["h2", "http/1.1"])
    context.load_cert_chain(str(files.client_pem))
    with socket.create_connection(("127.0.0.1", env_server.port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.selected_alpn_protocol() == "http/1.1"
            name = tls.cipher()[0]  # type: ignore[index]
            (number,) = [c["id"] & 0xFFFF for c in context.get_ciphers() if c["name"] == name]
            tls.sendall(b"GET /scope HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := tls.recv(65536):
                reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    scope_tls = json.loads(body)["extensions"]["tls"]
    assert scope_tls["tls_version"] == 0x0303 and scope_tls["cipher_suite"] == number
    leaf = x509.load_pem_x509_certificate(files.client.cert_chain_pems[0].bytes())
    assert scope_tls["client_cert_name"] == leaf.subject.rfc4514_string()
    assert scope_tls["client_cert_name"].startswith("CN=alice,")


@pytest.mark.parametrize("version", ["1.3", "TLSv1.3"])
def test_min_version_1_3_refuses_tls_1_2(files: Files, version: str, asgid) -> None:  # type: ignore[no-untyped-def]
    endpoint = (
        f"https:0:interface=127.0.0.1:certKey={files.cert}:privateKey={files.key}"
        f":password=s3cret:minVersion={version}"
    )
    proc = asgid(APP, "--access-log", "/dev/null", endpoints=[endpoint])
    assert "alert protocol version" in s_client(proc.port, "-tls1_2")
    assert "New, TLSv1.3" in s_client(proc.port, "-tls1_3")


@pytest.mark.parametrize("alpn", [[], ["-alpn", "spdy/3.1"]])
def test_clients_without_a_known_alpn_protocol_get_http_1_1(
    files: Files,
    alpn: list[str],
    asgid,  # type: ignore[no-untyped-def]
) -> None:
    endpoint = (
        f"https:0:interface=127.0.0.1:certKey={files.cert}:privateKey={files.key}:password=s3cret"
    )
    proc = asgid(APP, "--access-log", "/dev/null", endpoints=[endpoint])
    request = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    output = s_client(proc.port, *alpn, "-tls1_2", "-quiet", send=request)
    assert "HTTP/1.1 200 OK" in output
    assert "Hello, world!" in output


@pytest.mark.parametrize("workers", ["1", "2"])
def test_haproxy_https_reads_the_proxy_header_before_the_handshake(
    files: Files,
    workers: str,
    asgid,  # type: ignore[no-untyped-def]
) -> None:
    """As HAProxy's send-proxy writes it: the PROXY line in clear, then TLS (with ALPN)."""
    endpoint = (
        f"haproxy:https:0:interface=127.0.0.1:certKey={files.cert}:privateKey={files.key}"
        ":password=s3cret"
    )
    proc = asgid(APP, "--access-log", "/dev/null", "--workers", workers, endpoints=[endpoint])
    if workers != "1":
        proc.wait_for(f"asgid ready: {workers} workers")
    header = f"PROXY TCP4 203.0.113.7 127.0.0.1 56324 {proc.port}\r\n".encode()
    context = ssl.create_default_context(cafile=str(files.ca_pem))
    context.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", proc.port), timeout=10) as raw:
        raw.sendall(header)
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.selected_alpn_protocol() == "h2"
    context.set_alpn_protocols(["http/1.1"])
    with socket.create_connection(("127.0.0.1", proc.port), timeout=10) as raw:
        raw.sendall(header)
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"GET /scope HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := tls.recv(65536):
                reply += chunk
    scope = json.loads(reply.partition(b"\r\n\r\n")[2])
    assert scope["client"] == ["203.0.113.7", 56324] and scope["scheme"] == "https"
    assert scope["extensions"]["tls"]["server_cert"].startswith("-----BEGIN CERTIFICATE-----")
    assert scope["extensions"]["tls"]["tls_version"] == 0x0304


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ssl_flags_apply_to_an_inherited_socket(
    files: Files,
    workers: str,
    asgid,  # type: ignore[no-untyped-def]
) -> None:
    """uvicorn's --fd N --ssl-*: TLS on the socket handed over, in every worker."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    try:
        flags = ["--fd", str(listener.fileno()), "--ssl-certfile", str(files.cert),
                 "--ssl-keyfile", str(files.key), "--ssl-keyfile-password", "s3cret"]  # fmt: skip
        proc = asgid(APP, "--workers", workers, *flags, endpoints=(), pass_fds=(listener.fileno(),))
        proc.wait_for("asgid ready")
        context = ssl.create_default_context(cafile=str(files.ca_pem))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                assert tls.recv(65536).startswith(b"HTTP/1.1 200 OK")
    finally:
        listener.close()
