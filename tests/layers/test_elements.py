"""The queue-element codec: Python and Lua writers, this and the previous version read."""

from __future__ import annotations

import asyncio
import string
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from asgid_layers import elements, keys
from asgid_layers.keys import ShardKeys
from asgid_layers.scripts import load_prelude
from hypothesis import given, settings, strategies as st

from .redis_procs import RedisProc

# Channels' rule for the part after "!" (require_valid_channel_name).
locals_ = st.text(alphabet=string.ascii_letters + string.digits + "-_.", max_size=24)
set_ids = st.integers(min_value=1, max_value=2**53).map(str)
payloads = st.binary(max_size=256)
changes = st.tuples(st.one_of(st.just(""), set_ids), st.one_of(st.just(""), set_ids))


def _v1_direct(local: str, payload: bytes) -> bytes:
    return local.encode() + b"\0" + payload


def _v1_group(set_id: str, skipped: list[str], payload: bytes) -> bytes:
    head = "#" + set_id + ("-" + ",".join(skipped) if skipped else "")
    return head.encode() + b"\0" + payload


def _v1_change(old: str, new: str, op: str, local: str) -> bytes:
    return b"!\0" + f"{old}:{new}:{op}{local}".encode()


@given(local=locals_, payload=payloads)
def test_direct_round_trip(local: str, payload: bytes) -> None:
    expected = elements.Direct([local], payload)
    assert elements.decode(elements.direct(local, payload)) == expected
    assert elements.decode(_v1_direct(local, payload)) == expected
    assert elements.payload_of(elements.direct(local, payload)) == payload


@given(set_id=set_ids, skipped=st.lists(locals_, max_size=5), payload=payloads)
def test_group_round_trip(set_id: str, skipped: list[str], payload: bytes) -> None:
    expected = elements.ToGroup(set_id, frozenset(skipped), payload)
    assert elements.decode(elements.to_group(set_id, skipped, payload)) == expected
    assert elements.decode(_v1_group(set_id, skipped, payload)) == expected


@given(ids=changes, op=st.sampled_from("+-"), local=locals_)
def test_change_round_trip(ids: tuple[str, str], op: str, local: str) -> None:
    expected = elements.Change(ids[0], ids[1], op, local)
    assert elements.decode(elements.change(*ids, op, local)) == expected
    assert elements.decode(_v1_change(*ids, op, local)) == expected


def test_unknown_kind_names_the_versions() -> None:
    with pytest.raises(elements.ElementError, match="versions 1 and 2"):
        elements.decode(elements.TAG + b"?x\0payload")


@pytest.fixture(scope="module")
def lua(redis_server: RedisProc) -> Iterator[redis.Redis]:
    client = redis.Redis(port=redis_server.port)
    yield client
    client.close()


# The prelude every script runs behind, then one line that calls its writers.
_PROBE = """
local skipped = {}
for i = 6, #ARGV do skipped[#skipped + 1] = ARGV[i] end
return {
  element_direct(ARGV[2], ARGV[3]), element_group(ARGV[4], skipped, ARGV[3]),
  element_change(ARGV[5], ARGV[4], '-', ARGV[2]),
  queue_key(ARGV[2]), counts_key(ARGV[2]), member_set_key(ARGV[4]), ids_key(),
}
"""


@settings(max_examples=40, deadline=None)
@given(local=locals_, payload=payloads, set_id=set_ids, skipped=st.lists(locals_, max_size=4))
def test_lua_writes_what_python_reads(
    lua: redis.Redis, local: str, payload: bytes, set_id: str, skipped: list[str]
) -> None:
    prelude = load_prelude()
    shard = ShardKeys("pre", "tag")
    args = [shard.base, local, payload, set_id, "7", *skipped]
    out = lua.eval(prelude + _PROBE, 0, *args)  # type: ignore[no-untyped-call]
    assert elements.decode(out[0]) == elements.Direct([local], payload)
    assert elements.decode(out[1]) == elements.ToGroup(set_id, frozenset(skipped), payload)
    assert elements.decode(out[2]) == elements.Change("7", set_id, "-", local)
    assert [k.decode() for k in out[3:]] == [
        shard.base + keys.QUEUE + local,
        shard.base + keys.COUNTS + local,
        shard.member_set(set_id),
        shard.ids(),
    ]


async def test_reader_delivers_previous_version_elements(make_layer: Callable[..., Any]) -> None:
    """A rolling deploy: elements an older release queued are still delivered."""
    layer = make_layer()
    try:
        a, b = await layer.new_channel(), await layer.new_channel()
        await layer.group_add("g", a)
        await layer.group_add("g", b)
        state = await layer._state()
        shard = state.ring.for_channel(a)
        client = state.hosts[0].command
        owner = a.split("!")[0] + "!"
        set_id = (await client.hget(shard.keys.group_members("g"), owner)).split(b":")[0]
        dumps = layer._serializer.dumps
        old = [
            _v1_direct(a.split("!")[1], dumps({"type": "direct"})),
            _v1_group(set_id.decode(), [a.split("!")[1]], dumps({"type": "group"})),
        ]
        await client.rpush(shard.keys.queue(owner), *old)
        await client.rpush(shard.keys.queue("named.old"), _v1_direct("", dumps({"type": "n"})))
        assert await asyncio.wait_for(layer.receive(a), 5) == {"type": "direct"}
        assert await asyncio.wait_for(layer.receive(b), 5) == {"type": "group"}
        assert await asyncio.wait_for(layer.receive("named.old"), 5) == {"type": "n"}
    finally:
        await layer.flush()
        await layer.close()
