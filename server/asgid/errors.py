"""The exception hierarchy: every error asgid raises on purpose, drawn as a tree below.

AsgidError
├── ConfigError          a setting or endpoint string the user must fix
│   └── TLSFileError     a certificate, key or CA file that cannot serve (tls_files.py)
├── AppImportError       the application path cannot be imported or is not callable
├── LifespanFailure      the app reported ``lifespan.startup.failed`` (or raised)
└── ProtocolError        the ASGI app broke the message protocol
    └── UnexpectedMessage    a message of the wrong type or order ("expected X, got Y")

OSError
└── ClientDisconnected   raised to the app by ``send()`` once its client is gone
"""

from __future__ import annotations


class AsgidError(Exception):
    """Base class of every error asgid raises on purpose."""


class ConfigError(AsgidError):
    """A setting, flag or endpoint string is invalid; the message says how to write it."""


class AppImportError(AsgidError):
    """The ``module:attribute`` path does not lead to an ASGI callable."""


class LifespanFailure(AsgidError):
    """The application refused to start (``lifespan.startup.failed``)."""


class ProtocolError(AsgidError):
    """The application sent an ASGI message that breaks the protocol."""


class UnexpectedMessage(ProtocolError):
    """A message arrived that is not allowed in the current state."""

    def __init__(self, expected: str, got: object) -> None:
        super().__init__(f"expected {expected}, got {got!r}")
        self.expected = expected
        self.got = got


class ClientDisconnected(OSError):
    """Raised by ``send()`` once the client is gone (ASGI spec 2.4 asks for an OSError)."""
