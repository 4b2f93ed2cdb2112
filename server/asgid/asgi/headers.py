"""The app's response headers, checked: (name, value) pairs of bytes, names that are RFC 9110
tokens, values that cannot split a header, and a ``content-length`` that is a number."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from asgid.errors import ProtocolError
from asgid.events import Headers

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+").fullmatch
_BAD_VALUE = re.compile(rb"[\x00\r\n]").search
# An app sends the same few header names on every response: a name that passed the token
# check is remembered, so the regular expression runs once per name instead of once per
# field. Bounded, so that an app inventing names cannot grow it.
_TOKENS_SEEN: set[bytes] = set()
_TOKENS_SEEN_MAX = 512


def _new_token(name: bytes) -> bool:
    """Whether ``name`` (not seen before) is an RFC 9110 §5.6.2 token; remembered if so."""
    if _TOKEN(name) is None:
        return False
    if len(_TOKENS_SEEN) < _TOKENS_SEEN_MAX:
        _TOKENS_SEEN.add(name)
    return True


def validate_headers(raw: Iterable[Any]) -> Headers:
    """Response headers as a list of byte pairs; anything that could split a header is refused."""
    headers: Headers = []
    if isinstance(raw, (bytes, str, dict)) or raw is None:
        raise ProtocolError(
            f"'headers' must be an iterable of (name, value) pairs, got {raw!r:.60}"
        )
    for item in raw:
        try:
            name, value = item
        except (TypeError, ValueError):
            raise ProtocolError(f"a header must be a (name, value) pair, got {item!r}") from None
        if type(name) is not bytes or type(value) is not bytes:
            if not isinstance(name, bytes) or not isinstance(value, bytes):
                raise ProtocolError(f"header name and value must be bytes, got {item!r}")
            name, value = bytes(name), bytes(value)
        if (name not in _TOKENS_SEEN and not _new_token(name)) or _BAD_VALUE(value) is not None:
            raise ProtocolError(f"invalid characters in response header {item!r}")
        if len(name) == 14 and name.lower() == b"content-length" and not value.isdigit():
            # RFC 9110 §8.6: a bad length would desynchronise every later response.
            raise ProtocolError(f"content-length must be a whole number, got {value!r}")
        headers.append((name, value))
    return headers
