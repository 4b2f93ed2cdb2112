from __future__ import annotations

from typing import Any


async def test_named_round_trip(layer: Any) -> None:
    await layer.send("test.named", {"type": "x", "n": 1})
    assert await layer.receive("test.named") == {"type": "x", "n": 1}


async def test_local_round_trip(layer: Any) -> None:
    ch = await layer.new_channel()
    await layer.send(ch, {"type": "x", "n": 2})
    assert await layer.receive(ch) == {"type": "x", "n": 2}


async def test_group(layer: Any) -> None:
    a, b = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("g", a)
    await layer.group_add("g", b)
    await layer.group_send("g", {"type": "hi"})
    m1, m2 = await layer.receive(a), await layer.receive(b)
    assert m1 == m2 == {"type": "hi"}
    assert m1 is not m2
