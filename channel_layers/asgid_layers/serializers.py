"""msgpack/JSON, optional encryption, random prefix, timestamp; bytes in, bytes out.

A payload is ``8-byte big-endian send time (ms) + body``; the body is the
serialized message preceded by ``random_prefix_length`` random bytes, encrypted
with Fernet when keys are configured. The time stays in clear so receivers can
drop expired messages without decrypting.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import time
from collections.abc import Sequence
from typing import Any, cast

import msgpack  # type: ignore[import-untyped]

_TIME = struct.Struct(">Q")


class Serializer:
    def __init__(
        self,
        *,
        fmt: str = "msgpack",
        symmetric_encryption_keys: Sequence[str | bytes] | None = None,
        random_prefix_length: int = 12,
    ) -> None:
        self._fmt = fmt
        self._random_prefix_length = random_prefix_length
        # Where the serialized message starts in a payload no key encrypted.
        self._body_at = _TIME.size + random_prefix_length
        self._crypter: Any = None
        if symmetric_encryption_keys:
            from cryptography.fernet import Fernet, MultiFernet

            # MultiFernet encrypts with the first key and decrypts with any, which is
            # what key rotation needs.
            self._crypter = MultiFernet([Fernet(_fernet_key(k)) for k in symmetric_encryption_keys])

    def dumps(self, message: dict[str, Any]) -> bytes:
        if self._fmt == "json":
            body = json.dumps(message, separators=(",", ":")).encode()
        else:
            body = cast(bytes, msgpack.packb(message, use_bin_type=True))
        if self._random_prefix_length:
            body = os.urandom(self._random_prefix_length) + body
        if self._crypter is not None:
            body = self._crypter.encrypt(body)
        return _TIME.pack(int(time.time() * 1000)) + body

    def loads(self, payload: bytes) -> dict[str, Any]:
        body: bytes | memoryview  # slices of a memoryview copy nothing
        if self._crypter is None:
            body = memoryview(payload)[self._body_at :]
        else:
            body = memoryview(self._crypter.decrypt(payload[_TIME.size :]))
            body = body[self._random_prefix_length :]
        # Typed locals instead of typing.cast: cast is a call on every message.
        message: dict[str, Any]
        if self._fmt == "json":
            message = json.loads(bytes(body))
        else:
            message = msgpack.unpackb(body, raw=False)
        return message

    @staticmethod
    def fresh(payload: bytes, expiry_s: float) -> bool:
        """Whether the payload was sent less than ``expiry_s`` ago."""
        sent_ms: int = _TIME.unpack_from(payload)[0]
        return time.time() * 1000.0 - sent_ms <= expiry_s * 1000.0


def _fernet_key(key: str | bytes) -> bytes:
    # Any string works as a key: it is stretched to Fernet's 32 bytes by SHA-256,
    # the same derivation channels_redis documents, so existing keys keep working.
    raw = key.encode() if isinstance(key, str) else key
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest())
