"""``asgid-certs``: write a self-signed certificate and key for local TLS/HTTP/2 experiments.

The certificate names ``localhost``, ``127.0.0.1`` and ``::1``; it is for examples and
tests on one machine, never for a public server (use a real CA there).
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import logging
import os
import shlex
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from asgid.tls_options import escape

logger = logging.getLogger("asgid.certs")


def make_self_signed(days: int = 30) -> tuple[bytes, bytes]:
    """A fresh (certificate PEM, private key PEM) pair valid for ``days`` days."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "asgid local development")])
    now = datetime.datetime.now(datetime.timezone.utc)
    alt_names = x509.SubjectAlternativeName(
        [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(alt_names, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def write_pair(directory: Path, days: int = 30) -> tuple[Path, Path]:
    """Write ``cert.pem`` and ``key.pem`` (mode 0600) into ``directory``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_pem, key_pem = make_self_signed(days)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert_pem)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key_pem)
    return cert_path, key_path


def serve_commands(cert_path: Path, key_path: Path) -> tuple[str, str]:
    """The ``--ssl-*`` command that serves the pair, and the same as an ``https:`` endpoint."""
    flags = shlex.join(
        ["asgid", "-b", "127.0.0.1", "-p", "8443", "--ssl-certfile", str(cert_path),
         "--ssl-keyfile", str(key_path)]
    )  # fmt: skip
    endpoint = (
        f"https:8443:interface=127.0.0.1:certKey={escape(str(cert_path))}"
        f":privateKey={escape(str(key_path))}"
    )
    return f"{flags} APP", f"asgid -e {shlex.quote(endpoint)} APP"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="asgid-certs",
        description="Write a self-signed localhost certificate (cert.pem) and key (key.pem).",
    )
    parser.add_argument("directory", nargs="?", default=".", help="where to write (default: .)")
    parser.add_argument("--days", type=int, default=30, help="validity in days (default: 30)")
    args = parser.parse_args(argv)
    # The output is instructions for a person: the message alone, on stdout.
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    cert_path, key_path = write_pair(Path(args.directory), args.days)
    flags, endpoint = serve_commands(cert_path, key_path)
    logger.info("wrote %s and %s", cert_path, key_path)
    logger.info("serve with: %s", flags)
    logger.info("or as an endpoint: %s", endpoint)
    return 0
