"""symmetric_encryption_keys: ciphertext in Redis, key rotation, foreign keys fail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cryptography.fernet import InvalidToken


async def _raw_elements(layer: Any, channel: str) -> list[bytes]:
    state = await layer._state()
    shard = state.ring.for_channel(channel)
    return list(await shard.clients.command.lrange(shard.keys.queue(channel), 0, -1))


async def test_payload_is_not_plaintext(make_layer: Callable[..., Any]) -> None:
    layer = make_layer(symmetric_encryption_keys=["secret-one"])
    plain = make_layer(prefix=layer.config.prefix)
    try:
        await layer.send("enc.x", {"type": "x", "text": "very-secret-text"})
        raw = await _raw_elements(layer, "enc.x")
        assert len(raw) == 1 and b"very-secret-text" not in raw[0]
        await plain.send("enc.y", {"type": "x", "text": "visible-text"})
        assert b"visible-text" in (await _raw_elements(plain, "enc.y"))[0]
        assert await layer.receive("enc.x") == {"type": "x", "text": "very-secret-text"}
    finally:
        await layer.flush()
        await layer.close()
        await plain.close()


async def test_key_rotation_and_foreign_key(make_layer: Callable[..., Any]) -> None:
    old = make_layer(symmetric_encryption_keys=["k-old"])
    prefix = old.config.prefix
    rotated = make_layer(prefix=prefix, symmetric_encryption_keys=["k-new", "k-old"])
    newest = make_layer(prefix=prefix, symmetric_encryption_keys=["k-newest", "k-new"])
    stranger = make_layer(prefix=prefix, symmetric_encryption_keys=["other"])
    try:
        await old.send("rot", {"type": "from-old"})
        assert await rotated.receive("rot") == {"type": "from-old"}
        await rotated.send("rot", {"type": "from-rotated"})
        assert await newest.receive("rot") == {"type": "from-rotated"}
        await rotated.send("rot", {"type": "secret"})
        with pytest.raises(InvalidToken):
            await stranger.receive("rot")
    finally:
        await old.flush()
        for layer in (old, rotated, newest, stranger):
            await layer.close()
