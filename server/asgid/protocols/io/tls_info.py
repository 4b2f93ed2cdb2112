"""The ASGI ``tls`` scope extension, read from a TLS transport once its handshake is done."""

from __future__ import annotations

import functools
import logging
import ssl
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

logger = logging.getLogger(__name__)

# The ASGI TLS extension wants numbers as on the wire (RFC 8446 §4.1.2, IANA registry).
TLS_VERSIONS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}

# OpenSSL cipher names -> IANA TLS cipher suite numbers, for the suites OpenSSL offers by
# default with TLS >= 1.2 (pyOpenSSL gives only the name). ``cipher_suite_number`` adds every
# other suite the OpenSSL build knows, for whatever list --ssl-ciphers allows.
CIPHER_SUITES = {
    "TLS_AES_128_GCM_SHA256": 0x1301,
    "TLS_AES_256_GCM_SHA384": 0x1302,
    "TLS_CHACHA20_POLY1305_SHA256": 0x1303,
    "TLS_AES_128_CCM_SHA256": 0x1304,
    "TLS_AES_128_CCM_8_SHA256": 0x1305,
    "AES128-GCM-SHA256": 0x009C,
    "AES256-GCM-SHA384": 0x009D,
    "DHE-RSA-AES128-GCM-SHA256": 0x009E,
    "DHE-RSA-AES256-GCM-SHA384": 0x009F,
    "ECDHE-ECDSA-AES128-SHA256": 0xC023,
    "ECDHE-ECDSA-AES256-SHA384": 0xC024,
    "ECDHE-RSA-AES128-SHA256": 0xC027,
    "ECDHE-RSA-AES256-SHA384": 0xC028,
    "ECDHE-ECDSA-AES128-GCM-SHA256": 0xC02B,
    "ECDHE-ECDSA-AES256-GCM-SHA384": 0xC02C,
    "ECDHE-RSA-AES128-GCM-SHA256": 0xC02F,
    "ECDHE-RSA-AES256-GCM-SHA384": 0xC030,
    "ECDHE-RSA-CHACHA20-POLY1305": 0xCCA8,
    "ECDHE-ECDSA-CHACHA20-POLY1305": 0xCCA9,
    "DHE-RSA-CHACHA20-POLY1305": 0xCCAA,
}


def tls_extension(transport: Any) -> dict[str, Any]:
    """Certificate, version and cipher of a TLS connection, per the ASGI TLS extension."""
    info: dict[str, Any] = {
        "server_cert": None,
        "client_cert_chain": [],
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": None,
        "cipher_suite": None,
    }
    try:
        connection = transport.getHandle()  # the OpenSSL.SSL.Connection of a TLS transport
        _fill(info, connection)
    except Exception:  # a half-closed or odd transport must not fail the request
        logger.debug("could not read TLS details from %r", transport, exc_info=True)
    return info


def _fill(info: dict[str, Any], connection: Any) -> None:
    own = connection.get_certificate(as_cryptography=True)
    if own is not None:
        info["server_cert"] = own.public_bytes(Encoding.PEM).decode("ascii")
    info["tls_version"] = TLS_VERSIONS.get(connection.get_protocol_version_name())
    cipher = connection.get_cipher_name()
    info["cipher_suite"] = cipher_suite_number(cipher) if cipher else None
    peer = connection.get_peer_certificate(as_cryptography=True)
    if peer is None:
        return
    # ASGI: the client's own certificate first, then the chain it sent (a server-side
    # OpenSSL chain leaves the peer's certificate out).
    chain = [peer, *(connection.get_peer_cert_chain(as_cryptography=True) or ())]
    pems: list[str] = []
    for cert in chain:
        pem = cert.public_bytes(Encoding.PEM).decode("ascii")
        if pem not in pems:
            pems.append(pem)
    info["client_cert_chain"] = pems
    info["client_cert_name"] = peer.subject.rfc4514_string()


def cipher_suite_number(name: str) -> int | None:
    """The IANA number of an OpenSSL cipher name; None for a name OpenSSL does not list."""
    return CIPHER_SUITES.get(name) or _all_cipher_suites().get(name)


@functools.cache
def _all_cipher_suites() -> dict[str, int]:
    # The stdlib gives each suite's id with 0x0300 (the SSLv3-style protocol id) in the
    # high 16 bits and the IANA number in the low 16; pyOpenSSL has no such call. Built
    # once, on the first unusual cipher.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    return {cipher["name"]: cipher["id"] & 0xFFFF for cipher in context.get_ciphers()}
