"""TLS settings as one frozen value: parsing, checks, and the ``https:`` endpoint string form.

Stdlib only, so ``config.py`` can hold a ``TLSOptions`` without importing OpenSSL. The
same settings arrive either from ``--ssl-*`` flags (one listener for ``-b/-p``) or as the
parameters of a ``https:`` endpoint string (any number of listeners, each with its own
certificate); both paths end in ``TLSOptions``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from asgid.errors import ConfigError

CertReqs = Literal["none", "optional", "required"]

# uvicorn passes ssl.CERT_NONE/OPTIONAL/REQUIRED as 0/1/2; accept its spelling too.
CERT_REQS: dict[str, CertReqs] = {
    "none": "none",
    "optional": "optional",
    "required": "required",
    "0": "none",
    "1": "optional",
    "2": "required",
}

MIN_VERSIONS = ("1.2", "1.3")
DEFAULT_MIN_VERSION = "1.2"

# Mozilla "intermediate" for TLS 1.2: forward secrecy and AEAD only. TLS 1.3 suites are
# set apart by OpenSSL and are all acceptable.
DEFAULT_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384"
)

# endpoint parameter -> TLSOptions field; the names follow Twisted's ssl: where it has one.
ENDPOINT_PARAMETERS = {
    "certKey": "certfile",
    "privateKey": "keyfile",
    "password": "keyfile_password",
    "caCerts": "ca_certs",
    "certReqs": "cert_reqs",
    "ciphers": "ciphers",
    "minVersion": "min_version",
}


def parse_cert_reqs(text: str) -> CertReqs:
    """``none``/``optional``/``required`` or uvicorn's ``0``/``1``/``2``."""
    value = CERT_REQS.get(text.strip().lower())
    if value is None:
        raise ConfigError(
            f"client certificate requirement must be none, optional or required "
            f"(or 0, 1, 2), not {text!r}"
        )
    return value


def parse_min_version(text: str) -> str:
    """``1.2``/``1.3``; ``TLSv1.2``, ``TLSv1_3`` (Python's ``ssl.TLSVersion`` names),
    ``tls1.2`` and ``TLS 1.2`` mean the same."""
    value = "".join(text.lower().split()).removeprefix("ssl.").removeprefix("tlsversion.")
    value = value.removeprefix("tlsv").removeprefix("tls").replace("_", ".")
    if value not in MIN_VERSIONS:
        raise ConfigError(
            f"minimum TLS version must be 1.2 or 1.3, not {text!r} "
            "(TLS 1.0 and 1.1 are broken and always refused)"
        )
    return value


@dataclass(frozen=True, slots=True)
class TLSOptions:
    """What one TLS listener needs; file names are kept so a reload can read them again."""

    certfile: str
    keyfile: str | None = None  # None: the key is in certfile, as Twisted's ssl: allows
    keyfile_password: str | None = None
    ca_certs: str | None = None
    cert_reqs: CertReqs = "none"
    ciphers: str = DEFAULT_CIPHERS
    min_version: str = DEFAULT_MIN_VERSION

    def __post_init__(self) -> None:
        if not self.certfile:
            raise ConfigError("a TLS listener needs a certificate: give --ssl-certfile or certKey=")
        if self.cert_reqs not in ("none", "optional", "required"):
            raise ConfigError(f"bad client certificate requirement {self.cert_reqs!r}")
        if self.cert_reqs != "none" and not self.ca_certs:
            raise ConfigError(
                f"asking clients for certificates ({self.cert_reqs}) needs the CA that "
                "signs them: give --ssl-ca-certs FILE (caCerts= in an https: endpoint)"
            )
        parse_min_version(self.min_version)

    def endpoint_parameters(self) -> str:
        """The ``key=value:...`` tail of a ``https:`` endpoint string for these settings."""
        values = {
            "certKey": self.certfile,
            "privateKey": self.keyfile,
            "password": self.keyfile_password,
            "caCerts": self.ca_certs,
            "certReqs": self.cert_reqs,
            "ciphers": None if self.ciphers == DEFAULT_CIPHERS else self.ciphers,
            "minVersion": self.min_version,
        }
        return ":".join(f"{k}={escape(v)}" for k, v in values.items() if v is not None)


def options_from_parameters(params: dict[str, str]) -> TLSOptions:
    """``TLSOptions`` from the keyword parameters of a ``https:`` endpoint string."""
    unknown = sorted(set(params) - set(ENDPOINT_PARAMETERS))
    if unknown:
        raise ConfigError(
            f"https: endpoint has no parameter {', '.join(unknown)}; it takes port, interface, "
            f"backlog, fileno, {', '.join(ENDPOINT_PARAMETERS)}"
        )
    fields = {ENDPOINT_PARAMETERS[k]: v for k, v in params.items()}
    if "cert_reqs" in fields:
        fields["cert_reqs"] = parse_cert_reqs(fields["cert_reqs"])
    if "min_version" in fields:
        fields["min_version"] = parse_min_version(fields["min_version"])
    return TLSOptions(**fields)  # type: ignore[arg-type]


def escape(value: str) -> str:
    """Endpoint strings split on ':' and '='; a literal one is written '\\:'."""
    return value.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")
