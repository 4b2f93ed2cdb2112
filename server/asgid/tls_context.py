"""OpenSSL server contexts from ``TLSOptions``, swapped in place on certificate reload.

Theory of operation: a ``ReloadableContext`` is what Twisted's TLS wrapper asks for a new
``SSL.Connection`` on every accepted socket (``IOpenSSLServerConnectionCreator``). It
holds one ``SSL.Context`` built from the files; ``reload()`` reads the files again, builds
a whole new context and only then swaps it in, so new handshakes get the new certificate
at once while open connections keep the context they were made with. A file that does
not load leaves the old context in service.

Every context ever built is kept by its ``TLSOptions`` in one registry per process, so
endpoints parsed twice (checked at start, then listened on) share one context, and
``reload_tls()`` reaches every listener of the process.

``reload_tls()`` is the one entry point for a reload: the server calls it on ``SIGHUP``
and from the ``--ssl-reload-interval`` check; a worker of ``--workers`` calls it on the
``SIGHUP`` its supervisor passes on, before anything else it does for that signal.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from OpenSSL import SSL
from twisted.internet.interfaces import (
    IOpenSSLServerConnectionCreator,
    IProtocolNegotiationFactory,
)
from zope.interface import implementer

from asgid.errors import ConfigError
from asgid.tls_files import TLSMaterial, load_material

if TYPE_CHECKING:
    from asgid.tls_options import TLSOptions

logger = logging.getLogger(__name__)

_MIN_VERSION = {"1.2": SSL.TLS1_2_VERSION, "1.3": SSL.TLS1_3_VERSION}

_OPTIONS = (
    SSL.OP_NO_COMPRESSION  # CRIME (CVE-2012-4929)
    | SSL.OP_CIPHER_SERVER_PREFERENCE
    | SSL.OP_NO_RENEGOTIATION  # client-initiated renegotiation is a DoS lever
    | SSL.OP_SINGLE_ECDH_USE
    | SSL.OP_SINGLE_DH_USE
)

_VERIFY = {
    "none": SSL.VERIFY_NONE,
    "optional": SSL.VERIFY_PEER,
    "required": SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT,
}


def build_context(options: TLSOptions, material: TLSMaterial) -> SSL.Context:
    """A server context: TLS 1.2+, no compression, ALPN from the listening factory."""
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_options(_OPTIONS)
    ctx.set_min_proto_version(_MIN_VERSION[options.min_version])
    try:
        ctx.set_cipher_list(options.ciphers.encode("ascii"))
    except (SSL.Error, UnicodeEncodeError):
        raise ConfigError(_cipher_list_error(options.ciphers)) from None
    ctx.use_certificate(material.chain[0])
    for extra in material.chain[1:]:
        ctx.add_extra_chain_cert(extra)
    ctx.use_privatekey(material.key)
    ctx.check_privatekey()
    # Resumption: the server-side session cache needs a session id context once client
    # certificates are verified (OpenSSL refuses to resume otherwise); TLS 1.3 tickets are
    # on by default. Both belong to this context, so a reload starts them afresh.
    ctx.set_session_cache_mode(SSL.SESS_CACHE_SERVER)
    ctx.set_session_id(b"asgid")
    if options.cert_reqs != "none" and options.ca_certs:
        ctx.load_verify_locations(options.ca_certs.encode())
        for authority in material.client_cas:  # named in the CertificateRequest
            ctx.add_client_ca(authority)
        ctx.set_verify(_VERIFY[options.cert_reqs], _verify_keeps_openssl_verdict)
    ctx.set_alpn_select_callback(_select_alpn)
    return ctx


def _cipher_list_error(ciphers: str) -> str:
    names = [name for name in ciphers.replace(",", ":").split(":") if name.strip()]
    if names and all(name.strip().startswith("TLS_") for name in names):
        return (
            f"--ssl-ciphers (ciphers=): {ciphers!r} names only TLS 1.3 suites, which are always "
            "allowed; the list is for TLS 1.2 (e.g. ECDHE+AESGCM), or leave it out"
        )
    return (
        f"--ssl-ciphers (ciphers=): no usable cipher in {ciphers!r}; give OpenSSL cipher "
        "names (openssl ciphers -v 'ECDHE+AESGCM' lists them)"
    )


def _verify_keeps_openssl_verdict(
    conn: SSL.Connection, cert: Any, errno: int, depth: int, ok: int
) -> bool:
    """OpenSSL's own chain verdict; a bad certificate fails the handshake in both modes.

    ``optional`` means "no certificate is fine", never "any certificate is fine": an app
    reading ``client_cert_name`` must be able to trust it.
    """
    return bool(ok)


def _select_alpn(conn: SSL.Connection, offered: list[bytes]) -> Any:
    """The first of the server's protocols the client offers (RFC 7301 §3.2)."""
    tls_protocol = conn.get_app_data()
    factory = getattr(getattr(tls_protocol, "factory", None), "wrappedFactory", None)
    negotiation = IProtocolNegotiationFactory(factory, None)
    ours = list(negotiation.acceptableProtocols()) if negotiation else [b"http/1.1"]
    for protocol in ours:
        if protocol in offered:
            return protocol
    # A client without a protocol we speak (nor http/1.1) still gets HTTP/1.1, as before
    # ALPN existed; refusing would break old clients for no gain.
    return SSL.NO_OVERLAPPING_PROTOCOLS


@implementer(IOpenSSLServerConnectionCreator)
class ReloadableContext:
    """Makes each new TLS connection from the current context; ``reload()`` replaces it."""

    def __init__(self, options: TLSOptions) -> None:
        self.options = options
        self.material = load_material(options)
        self.context = build_context(options, self.material)
        self._stamp = _files_stamp(options)

    def serverConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:
        connection = SSL.Connection(self.context, None)
        connection.set_app_data(tlsProtocol)  # the ALPN callback finds the factory here
        return connection

    def reload(self) -> bool:
        """Load the files again; True when a new certificate is in service."""
        stamp = _files_stamp(self.options)
        try:
            material = load_material(self.options)
            context = build_context(self.options, material)
        except (ConfigError, SSL.Error) as exc:
            logger.error("TLS reload failed, keeping the certificate in service: %s", exc)
            self._stamp = stamp  # do not retry a broken file every interval; SIGHUP still does
            return False
        self.material, self.context, self._stamp = material, context, stamp
        logger.info(
            "TLS certificate reloaded from %s (serial %x, valid until %s)",
            self.options.certfile,
            material.chain[0].serial_number,
            material.chain[0].not_valid_after_utc.isoformat(),
        )
        return True

    def changed(self) -> bool:
        """Whether a file's modification time or size moved since the last load."""
        return _files_stamp(self.options) != self._stamp


def _files_stamp(options: TLSOptions) -> tuple[tuple[int, int] | None, ...]:
    stamps: list[tuple[int, int] | None] = []
    for path in (options.certfile, options.keyfile, options.ca_certs):
        try:
            st = os.stat(path) if path else None
        except OSError:
            st = None
        stamps.append((st.st_mtime_ns, st.st_size) if st else None)
    return tuple(stamps)


_REGISTRY: dict[TLSOptions, ReloadableContext] = {}


def context_for(options: TLSOptions) -> ReloadableContext:
    """The process's one context for these settings, loaded on first use."""
    existing = _REGISTRY.get(options)
    if existing is None:
        existing = _REGISTRY[options] = ReloadableContext(options)
    return existing


def reload_tls() -> int:
    """Reload every TLS certificate of this process; return how many loaded afresh.

    Call it on ``SIGHUP`` (and, in a worker, before the rest of a SIGHUP rolling reload).
    A certificate that fails to load keeps the old one in service and is logged.
    """
    return sum(context.reload() for context in list(_REGISTRY.values()))


def reload_changed_tls() -> int:
    """``reload_tls()`` limited to contexts whose files changed (the interval check)."""
    return sum(context.reload() for context in list(_REGISTRY.values()) if context.changed())
