"""Read a TLS listener's certificate, key and CA files, with one-line errors that name the file."""

from __future__ import annotations

import datetime
import errno
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from asgid.errors import ConfigError

if TYPE_CHECKING:
    from asgid.tls_options import TLSOptions

logger = logging.getLogger(__name__)

SigningKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)


class TLSFileError(ConfigError):
    """A certificate, key or CA file that cannot serve; the message names file and problem."""


@dataclass(frozen=True)
class TLSMaterial:
    chain: list[x509.Certificate]  # leaf first, then the intermediates to send
    key: SigningKey
    client_cas: list[x509.Certificate]


def load_material(options: TLSOptions) -> TLSMaterial:
    """Every file of ``options`` read and cross-checked; ``TLSFileError`` on the first fault."""
    chain = _certificates(options.certfile, "certificate")
    key = _private_key(options.keyfile or options.certfile, options.keyfile_password)
    if _public_bytes(key.public_key()) != _public_bytes(chain[0].public_key()):
        raise TLSFileError(
            f"{options.keyfile or options.certfile}: this private key does not belong to the "
            f"certificate in {options.certfile} (give the key the certificate was issued for)"
        )
    now = datetime.datetime.now(datetime.timezone.utc)
    if chain[0].not_valid_after_utc < now:
        # Still served: clients decide; a renewal and SIGHUP fix it without a restart.
        logger.warning(
            "%s: the certificate expired on %s", options.certfile, chain[0].not_valid_after_utc
        )
    cas = _certificates(options.ca_certs, "CA certificate") if options.ca_certs else []
    if cas and options.cert_reqs == "none":
        logger.warning(
            "%s: CA certificates given but client certificates are not asked for; add "
            "--ssl-cert-reqs optional or required (certReqs=) to use them",
            options.ca_certs,
        )
    return TLSMaterial(chain=chain, key=key, client_cas=cas)


# What to do about the usual reasons a file cannot be read, by errno.
_READ_FIXES = {
    errno.ENOENT: "check the path (relative paths start from the working directory)",
    errno.ENOTDIR: "check the path: a part of it is a file, not a directory",
    errno.EISDIR: "give the PEM file inside the directory, not the directory",
    errno.EACCES: "make it readable by the user asgid runs as",
    errno.EPERM: "make it readable by the user asgid runs as",
}


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        fix = _READ_FIXES.get(exc.errno or 0, "check the file")
        raise TLSFileError(f"{path}: cannot read the {what} file ({exc.strerror}); {fix}") from None


def _certificates(path: str, what: str) -> list[x509.Certificate]:
    data = _read(path, what)
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        certs = []
    if not certs:
        if data[:1] == b"\x30":  # an ASN.1 SEQUENCE: binary DER, not PEM
            raise TLSFileError(
                f"{path}: this {what} is in binary DER form; convert it to PEM with "
                f"openssl x509 -inform der -in {path} -out {path}.pem"
            )
        raise TLSFileError(
            f"{path}: no PEM {what} in this file (expected -----BEGIN CERTIFICATE-----)"
        )
    return certs


def _private_key(path: str, password: str | None) -> SigningKey:
    data = _read(path, "private key")
    secret = password.encode() if password else None
    try:
        key = serialization.load_pem_private_key(data, secret)
    except TypeError:
        if secret is None:
            raise TLSFileError(
                f"{path}: the private key is encrypted; give its password with "
                "--ssl-keyfile-password (or ASGID_SSL_KEYFILE_PASSWORD, or password=)"
            ) from None
        raise TLSFileError(
            f"{path}: the private key is not encrypted; drop the key password"
        ) from None
    except ValueError as exc:
        if secret is not None and "decrypt" in str(exc).lower():
            raise TLSFileError(
                f"{path}: wrong password for the private key; check --ssl-keyfile-password "
                "(or ASGID_SSL_KEYFILE_PASSWORD, or password=)"
            ) from None
        raise TLSFileError(
            f"{path}: no usable PEM private key in this file "
            "(expected -----BEGIN PRIVATE KEY----- or an RSA/EC key)"
        ) from None
    if not isinstance(
        key,
        (
            rsa.RSAPrivateKey,
            ec.EllipticCurvePrivateKey,
            ed25519.Ed25519PrivateKey,
            ed448.Ed448PrivateKey,
        ),
    ):
        raise TLSFileError(f"{path}: a {type(key).__name__} cannot serve TLS handshakes")
    return key


def _public_bytes(public_key: object) -> bytes:
    return public_key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
