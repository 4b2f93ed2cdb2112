"""--ssl-* flags and https: parameters: bad files exit 2 with one line naming the file; what
the handshake offers (TLS 1.2+, ALPN, no compression, resumption) as openssl s_client sees it."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from asgid.cli import config_from_args, parse_args
from asgid.errors import ConfigError
from asgid.tls_context import ReloadableContext
from asgid.tls_endpoint import split_description, tcp_part
from asgid.tls_options import TLSOptions, options_from_parameters
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import given, strategies as st

from tests.support.server import AsgidProcess, run_cli

APP = "tests.apps.h2:app"


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Good files, a key of another certificate, a password-protected key, junk."""
    d = tmp_path_factory.mktemp("tls-options")
    ca = trustme.CA()
    leaf, other = ca.issue_cert("localhost", "127.0.0.1"), ca.issue_cert("localhost")
    files = {name: d / name for name in ("cert", "key", "other_key", "enc_key", "ca", "junk")}
    leaf.cert_chain_pems[0].write_to_path(str(files["cert"]))
    leaf.private_key_pem.write_to_path(str(files["key"]))
    other.private_key_pem.write_to_path(str(files["other_key"]))
    ca.cert_pem.write_to_path(str(files["ca"]))
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    files["enc_key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"s3cret"),
        )
    )
    files["junk"].write_text("not a certificate\n")
    files["der"] = d / "cert.der"
    files["der"].write_bytes(
        x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).public_bytes(
            serialization.Encoding.DER
        )
    )
    files["dir"] = d / "a directory"
    files["dir"].mkdir()
    return files


BAD_FILES = [
    (
        ["--ssl-certfile", "missing.pem"],
        "missing.pem",
        "cannot read the certificate file (No such file or directory); check the path",
    ),
    (["--ssl-certfile", "dir"], "dir", "(Is a directory); give the PEM file inside"),
    (["--ssl-certfile", "junk"], "junk", "no PEM certificate"),
    (["--ssl-certfile", "key"], "key", "no PEM certificate"),
    (["--ssl-certfile", "der"], "der", "in binary DER form; convert it to PEM with openssl"),
    (["--ssl-keyfile", "junk"], "junk", "no usable PEM private key"),
    (["--ssl-keyfile", "cert"], "cert", "no usable PEM private key"),
    (["--ssl-keyfile", "dir"], "dir", "cannot read the private key file (Is a directory)"),
    (["--ssl-keyfile", "other_key"], "other_key", "does not belong to the certificate"),
    (["--ssl-keyfile", "enc_key"], "enc_key", "the private key is encrypted; give its password"),
    (
        ["--ssl-keyfile", "enc_key", "--ssl-keyfile-password", "nope"],
        "enc_key",
        "wrong password for the private key; check --ssl-keyfile-password",
    ),
    (["--ssl-keyfile-password", "x"], "key", "not encrypted; drop the key password"),
    (["--ssl-ca-certs", "junk", "--ssl-cert-reqs", "required"], "junk", "no PEM CA certificate"),
    (["--ssl-ca-certs", "dir", "--ssl-cert-reqs", "1"], "dir", "the CA certificate file"),
]


def _argv(pem: dict[str, Path], flags: list[str]) -> list[str]:
    args = {"--ssl-certfile": "cert", "--ssl-keyfile": "key"}
    args.update(zip(flags[::2], flags[1::2], strict=True))
    command: list[str] = []
    for flag, value in args.items():
        command += [flag, str(pem[value]) if value in pem else value]
    return [APP, "-p", "0", *command]


@pytest.mark.parametrize(("flags", "culprit", "problem"), BAD_FILES)
def test_bad_files_are_one_line_naming_the_file(
    pem: dict[str, Path], flags: list[str], culprit: str, problem: str
) -> None:
    """What the server loads at start (and on reload), in this process: fast, every case."""
    config = config_from_args(parse_args(_argv(pem, flags), {}), {})
    assert config.ssl is not None
    with pytest.raises(ConfigError) as raised:
        ReloadableContext(config.ssl)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{pem.get(culprit, culprit)}: ") and problem in message


def test_unreadable_files_say_what_to_do(pem: dict[str, Path], tmp_path: Path) -> None:
    not_a_dir = f"{pem['cert']}/cert.pem"
    with pytest.raises(ConfigError, match="a part of it is a file, not a directory"):
        ReloadableContext(TLSOptions(certfile=not_a_dir, keyfile=str(pem["key"])))
    if os.geteuid() == 0:
        return  # root reads a file whatever its mode
    locked = tmp_path / "locked.pem"
    locked.write_bytes(pem["key"].read_bytes())
    locked.chmod(0)
    with pytest.raises(ConfigError, match="Permission denied.*make it readable by the user"):
        ReloadableContext(TLSOptions(certfile=str(pem["cert"]), keyfile=str(locked)))


@pytest.mark.parametrize(
    ("flags", "culprit", "problem"), [BAD_FILES[0], BAD_FILES[1], BAD_FILES[8]]
)
def test_bad_files_exit_2_naming_the_file(
    pem: dict[str, Path], flags: list[str], culprit: str, problem: str
) -> None:
    result = run_cli(*_argv(pem, flags))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(pem.get(culprit, culprit)) in lines[0] and problem in lines[0]


@pytest.mark.parametrize(
    ("ciphers", "message"),
    [
        ("NOPE", "no usable cipher in 'NOPE'; give OpenSSL cipher names"),
        ("ECDHE+AESGCM+é", "no usable cipher in"),
        ("TLS_AES_256_GCM_SHA384", "names only TLS 1.3 suites, which are always allowed"),
    ],
)
def test_bad_cipher_lists_are_config_errors(
    pem: dict[str, Path], ciphers: str, message: str
) -> None:
    options = TLSOptions(certfile=str(pem["cert"]), keyfile=str(pem["key"]), ciphers=ciphers)
    with pytest.raises(ConfigError, match=re.escape(message)):
        ReloadableContext(options)


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        ("ASGID_SSL_CERT_REQS=maybe", "must be none, optional or required (or 0, 1, 2)"),
        ("ASGID_SSL_MIN_VERSION=1.1", "must be 1.2 or 1.3"),
    ],
)
def test_bad_tls_variables_exit_2_with_the_reason(
    pem: dict[str, Path], variable: str, message: str
) -> None:
    name, value = variable.split("=")
    env = {
        name: value,
        "ASGID_SSL_CERTFILE": str(pem["cert"]),
        "ASGID_SSL_KEYFILE": str(pem["key"]),
    }
    result = run_cli(APP, "-p", "0", env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert message in result.stderr.strip().splitlines()[-1]


def test_bad_file_in_a_tls_endpoint_exits_2(pem: dict[str, Path]) -> None:
    endpoint = f"https:0:certKey={pem['cert']}:privateKey={pem['other_key']}"
    result = run_cli(APP, "-e", endpoint)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"asgid: error: {pem['other_key']}: this private key does not belong to the certificate "
        f"in {pem['cert']} (give the key the certificate was issued for)"
    )


def test_flags_map_to_one_tls_listener(pem: dict[str, Path]) -> None:
    argv = [APP, "-b", "0.0.0.0", "-p", "8443", "--ssl-certfile", str(pem["cert"])]
    env = {"ASGID_SSL_CERT_REQS": "1", "ASGID_SSL_CA_CERTS": str(pem["ca"])}
    config = config_from_args(parse_args(argv, env), env)
    assert config.ssl == TLSOptions(
        certfile=str(pem["cert"]), ca_certs=str(pem["ca"]), cert_reqs="optional"
    )
    (description,) = config.endpoints
    assert description.startswith("https:port=8443:interface=0.0.0.0:certKey=")
    assert tcp_part(description)[0] == "tcp:port=8443:interface=0.0.0.0:backlog=2048"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-e", "tcp:8000", "--ssl-certfile", "c.pem"], "applies to the -b/-p listener"),
        (["-u", "/run/a.sock", "--ssl-certfile", "c.pem"], "-u unix sockets do not speak TLS"),
        (["--ssl-keyfile", "k.pem"], "--ssl-keyfile needs --ssl-certfile"),
        (["-p", "1", "--ssl-certfile", "c.pem", "--ssl-cert-reqs", "2"], "needs the CA"),
    ],
)
def test_flag_combinations_refused(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_args(parse_args([APP, *argv], {}), {})


def test_endpoint_parameters_round_trip() -> None:
    options = TLSOptions(
        certfile="/etc/c:1.pem", keyfile="k.pem", keyfile_password="p=w", ca_certs="ca.pem",
        cert_reqs="required", ciphers="ECDHE+AESGCM", min_version="1.3",
    )  # fmt: skip
    args, params = split_description("https:8443:" + options.endpoint_parameters())
    assert args == ["8443"] and options_from_parameters(params) == options
    with pytest.raises(ConfigError, match="has no parameter sslmethod"):
        options_from_parameters({"certKey": "c.pem", "sslmethod": "TLSv1_METHOD"})


@given(
    certfile=st.text(min_size=1).filter(lambda t: t.strip()),
    password=st.none() | st.text(),
    ciphers=st.text(min_size=1),
)
def test_any_file_name_or_password_survives_the_endpoint_string(
    certfile: str, password: str | None, ciphers: str
) -> None:
    """Values full of ':', '=' and '\\' come back exactly from the string --ssl-* build."""
    options = TLSOptions(certfile=certfile, keyfile_password=password, ciphers=ciphers)
    description = f"https:port=0:interface=127.0.0.1:{options.endpoint_parameters()}"
    args, params = split_description(description)
    assert args == [] and params.pop("port") == "0" and params.pop("interface") == "127.0.0.1"
    assert options_from_parameters(params) == options
    listen, rest = tcp_part(description)
    assert listen == "tcp:port=0:interface=127.0.0.1"
    assert options_from_parameters(split_description("https:" + rest)[1]) == options


@pytest.fixture(scope="module", params=["uvloop", "asyncio"])
def server(pem: dict[str, Path], request: pytest.FixtureRequest) -> Iterator[AsgidProcess]:
    """-b/-p with --ssl-* and an encrypted key whose password comes from the environment."""
    proc = AsgidProcess(
        APP,
        "--access-log", "/dev/null", "--loop", request.param, "-b", "127.0.0.1", "-p", "0",
        "--ssl-certfile", str(pem["cert"]), "--ssl-keyfile", str(pem["enc_key"]),
        endpoints=(),
        env={"ASGID_SSL_KEYFILE_PASSWORD": "s3cret"},
    )  # fmt: skip
    yield proc
    proc.stop()


def s_client(port: int, *args: str) -> str:
    result = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
         *args],
        input="", capture_output=True, text=True, timeout=20,
    )  # fmt: skip
    return result.stdout + result.stderr


@pytest.mark.parametrize("old", ["-tls1", "-tls1_1"])
def test_tls_1_0_and_1_1_refused(server: AsgidProcess, old: str) -> None:
    output = s_client(server.port, old, "-cipher", "ALL:@SECLEVEL=0")
    assert "alert protocol version" in output or "no protocols available" in output
    assert "Cipher is (NONE)" in output or "no peer certificate available" in output


def test_handshake_offers_alpn_no_compression_resumption(
    server: AsgidProcess, tmp_path: Path
) -> None:
    session = tmp_path / "session.pem"
    first = s_client(server.port, "-tls1_2", "-alpn", "h2,http/1.1", "-sess_out", str(session))
    assert "ALPN protocol: h2" in first and "Compression: NONE" in first
    assert "Protocol  : TLSv1.2" in first and "New, TLSv1.2" in first
    again = s_client(server.port, "-tls1_2", "-sess_in", str(session))
    assert "Reused, TLSv1.2" in again
    assert "ALPN protocol: http/1.1" in s_client(server.port, "-alpn", "http/1.1")


def test_no_http2_offers_only_http_1_1(pem: dict[str, Path], asgid) -> None:  # type: ignore[no-untyped-def]
    endpoint = f"https:0:interface=127.0.0.1:certKey={pem['cert']}:privateKey={pem['key']}"
    proc = asgid(APP, "--access-log", "/dev/null", "--no-http2", endpoints=[endpoint])
    assert "ALPN protocol: http/1.1" in s_client(proc.port, "-alpn", "h2,http/1.1")
