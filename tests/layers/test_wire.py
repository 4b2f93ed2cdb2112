"""The pipelined RESP connections of the hot path (asgid_layers/wire.py) on a real Redis,
on both event loops."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import redis
from asgid_layers.config import HostSpec
from asgid_layers.connection import open_host
from asgid_layers.retry import PipelinedPops, blocking_pop
from asgid_layers.wire import Target, WireConnection, WireScript, pack
from redis.exceptions import ConnectionError as RedisConnectionError, ResponseError, TimeoutError

from .redis_procs import RedisProc, free_port
from .waiting import until

Run = Callable[[Coroutine[Any, Any, None]], None]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Run:
    """Run a scenario to completion on a fresh loop of either kind."""
    if request.param == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        return uvloop.run  # type: ignore[no-any-return]
    return asyncio.run


def connect(url: str, timeout_s: float = 5.0) -> WireConnection:
    target = Target.from_spec(url, None, {})
    assert target is not None
    return WireConnection(target, timeout_s=timeout_s, connect_timeout_s=2.0)


def blocked_clients(server: RedisProc) -> int:
    return int(redis.Redis(port=server.port).info("clients")["blocked_clients"])


def test_concurrent_calls_share_one_connection_in_order(run: Run, redis_server: RedisProc) -> None:
    async def scenario() -> None:
        wire = connect(redis_server.url)
        key = f"wire-order-{free_port()}"
        try:
            replies = await asyncio.gather(*(wire.call(pack(["INCR", key])) for _ in range(200)))
            assert replies == list(range(1, 201))
            clients = redis.Redis(port=redis_server.port).client_list()
            assert sum(1 for c in clients if c["cmd"] == "incr") == 1
        finally:
            await wire.aclose()

    run(scenario())


def test_arguments_round_trip_like_redis_py(run: Run, redis_server: RedisProc) -> None:
    async def scenario() -> None:
        wire = connect(redis_server.url)
        key = f"wire-args-{free_port()}"
        values: list[bytes | str | int | float] = [b"\0\xffraw", "text é", 42, -7, 2.5, b""]
        try:
            await wire.call(pack(["RPUSH", key, *values]))
            stored = redis.Redis(port=redis_server.port).lrange(key, 0, -1)
            assert stored == [b"\0\xffraw", "text é".encode(), b"42", b"-7", b"2.5", b""]
            for wrong in (True, None, [1]):
                with pytest.raises(TypeError, match="must be str, int, float or bytes"):
                    pack(["SET", key, wrong])  # type: ignore[list-item]
        finally:
            await wire.aclose()

    run(scenario())


@pytest.mark.parametrize("value", [2.5, 0.1, 1 / 3, -0.0, 1e100, 1e-7, 123456789.123, 1.0])
def test_floats_are_sent_as_their_repr_like_redis_py(value: float) -> None:
    # redis-py's Encoder sends repr(float); scores and expiries must read back unchanged.
    text = repr(value).encode()
    assert pack(["X", value]) == b"*2\r\n$1\r\nX\r\n$%d\r\n%b\r\n" % (len(text), text)


def test_error_reply_raises_and_the_connection_stays_usable(
    run: Run, redis_server: RedisProc
) -> None:
    async def scenario() -> None:
        wire = connect(redis_server.url)
        try:
            with pytest.raises(ResponseError, match="unknown command"):
                await wire.call(pack(["NO-SUCH-COMMAND"]))
            assert await wire.call(pack(["PING"])) == b"PONG"
        finally:
            await wire.aclose()

    run(scenario())


def test_script_is_loaded_again_after_script_flush(run: Run, redis_server: RedisProc) -> None:
    async def scenario() -> None:
        wire = connect(redis_server.url)
        script = WireScript("return {KEYS[1], ARGV[1]}")
        try:
            assert await script.run(wire, ["k"], ["v"]) == [b"k", b"v"]
            redis.Redis(port=redis_server.port).script_flush()
            assert await script.run(wire, ["k2"], ["v2"]) == [b"k2", b"v2"]
        finally:
            await wire.aclose()

    run(scenario())


def test_timeout_fails_the_call_and_the_next_call_reconnects(
    run: Run, redis_server: RedisProc
) -> None:
    async def scenario() -> None:
        wire = connect(redis_server.url, timeout_s=0.3)
        try:
            with pytest.raises(TimeoutError):
                await wire.call(pack(["BLPOP", f"wire-never-{free_port()}", 5]))
            assert await wire.call(pack(["PING"])) == b"PONG"
        finally:
            await wire.aclose()

    run(scenario())


def test_killed_connection_fails_waiting_calls_then_reconnects(
    run: Run, redis_server: RedisProc
) -> None:
    async def scenario() -> None:
        wire = connect(redis_server.url, timeout_s=30)
        name = f"wire-kill-{free_port()}"
        try:
            await wire.call(pack(["CLIENT", "SETNAME", name]))
            waiting = asyncio.ensure_future(wire.call(pack(["BLPOP", f"{name}-q", 20])))
            await until(lambda: blocked_clients(redis_server) >= 1, "the BLPOP to block")
            admin = redis.Redis(port=redis_server.port)
            (mine,) = [c["id"] for c in admin.client_list() if c["name"] == name]
            admin.client_kill_filter(_id=mine)
            with pytest.raises(RedisConnectionError):
                await waiting
            assert await wire.call(pack(["PING"])) == b"PONG"
        finally:
            await wire.aclose()

    run(scenario())


def test_cancelled_blocking_pop_takes_nothing(run: Run, redis_server: RedisProc) -> None:
    async def scenario() -> None:
        # A reader is cancelled while its pop is blocked in Redis (close, flush): the
        # element pushed afterwards must stay queued for the next reader.
        wire = connect(redis_server.url, timeout_s=30)
        key = f"wire-cancel-{free_port()}"
        before = blocked_clients(redis_server)
        pop = asyncio.ensure_future(blocking_pop(wire, key, 10))
        await until(lambda: blocked_clients(redis_server) > before, "the pop to block")
        pop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pop
        await until(lambda: blocked_clients(redis_server) == before, "the pop to be withdrawn")
        sync = redis.Redis(port=redis_server.port)
        sync.rpush(key, b"kept")
        assert sync.llen(key) == 1
        assert await blocking_pop(wire, key, 10) == [b"kept"]
        await wire.aclose()

    run(scenario())


def test_password_and_database_from_the_url(
    run: Run, redis_factory: Callable[..., RedisProc]
) -> None:
    async def scenario() -> None:
        server = redis_factory()  # private: its password is set here, never reset
        redis.Redis(port=server.port).config_set("requirepass", "s3cret")
        wire = connect(f"redis://:s3cret@127.0.0.1:{server.port}/3")
        try:
            await wire.call(pack(["SET", "wire-db", "3"]))
            assert redis.Redis(port=server.port, password="s3cret", db=3).get("wire-db") == b"3"
            wrong = connect(f"redis://:nope@127.0.0.1:{server.port}/0")
            with pytest.raises(RedisConnectionError, match="set-up"):
                await wrong.call(pack(["PING"]))
            await wrong.aclose()
        finally:
            await wire.aclose()

    run(scenario())


def test_unix_socket(run: Run, redis_factory: Callable[..., RedisProc], tmp_path: Path) -> None:
    async def scenario() -> None:
        path = tmp_path / "redis.sock"
        server = redis_factory("--unixsocket", str(path))
        await until(path.exists, "the unix socket")
        wire = connect(f"unix://{path}?db=1")
        try:
            await wire.call(pack(["SET", "wire-unix", "1"]))
            assert redis.Redis(port=server.port, db=1).get("wire-unix") == b"1"
        finally:
            await wire.aclose()

    run(scenario())


def test_only_plain_hosts_take_the_wire_path() -> None:
    assert Target.from_spec("redis://h:1/2", None, {}) == Target(host="h", port=1, db=2)
    assert Target.from_spec(None, ("h", 1), {"password": "p"}) == Target("h", 1, password="p")
    assert Target.from_spec("rediss://h:1/0", None, {}) is None
    assert Target.from_spec("redis://h:1/0", None, {"ssl_cert_reqs": None}) is None
    assert Target.from_spec(None, ("h", 1), {"socket_keepalive": True}) is None
    assert open_host(HostSpec(url="redis://h:1/0")).wire is not None
    assert open_host(HostSpec(url="rediss://h:1/0")).wire is None


def test_pipelined_pops_take_every_element_once_in_order(run: Run, redis_server: RedisProc) -> None:
    async def scenario() -> None:
        key = f"wire-pipelined-{free_port()}"
        pops = PipelinedPops(connect(redis_server.url, timeout_s=30), key, 3)
        sync = redis.Redis(port=redis_server.port)
        try:
            taken: list[bytes] = []
            for first in range(0, 40, 10):  # bursts, with pops queued in between
                sync.rpush(key, *[str(i).encode() for i in range(first, first + 10)])
                while len(taken) < first + 10:
                    taken += await blocking_pop(pops, key, 3)
            assert taken == [str(i).encode() for i in range(40)]
            assert sync.llen(key) == 0
        finally:
            await pops.connection.aclose()

    run(scenario())


def test_cancelled_pipelined_pops_take_nothing(run: Run, redis_server: RedisProc) -> None:
    # Several pops wait queued in Redis behind the blocked one; cancelling the
    # reader must withdraw all of them.
    async def scenario() -> None:
        key = f"wire-pipelined-cancel-{free_port()}"
        pops = PipelinedPops(connect(redis_server.url, timeout_s=30), key, 10)
        before = blocked_clients(redis_server)
        pop = asyncio.ensure_future(blocking_pop(pops, key, 10))
        await until(lambda: blocked_clients(redis_server) > before, "the pops to block")
        pop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pop
        await until(lambda: blocked_clients(redis_server) == before, "the pops withdrawn")
        sync = redis.Redis(port=redis_server.port)
        sync.rpush(key, b"a", b"b")
        assert sync.llen(key) == 2
        assert await blocking_pop(pops, key, 10) == [b"a", b"b"]
        await pops.connection.aclose()

    run(scenario())


def test_pops_sent_ahead_and_dropped_by_the_layer_log_nothing(
    run: Run, redis_server: RedisProc
) -> None:
    reported: list[dict[str, Any]] = []

    async def scenario() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: reported.append(ctx))
        wire = connect(redis_server.url)
        key = f"wire-ahead-{free_port()}"
        futures = await wire.send_many([pack(["BLPOP", key, "5"]) for _ in range(4)])
        await until(lambda: blocked_clients(redis_server) == 1, "the first pop blocks in Redis")
        await wire.aclose()
        with pytest.raises(RedisConnectionError):
            await futures[0]
        # The other three had no awaiter: once collected, asyncio must have nothing to report.
        del futures
        gc.collect()
        await asyncio.sleep(0)

    run(scenario())
    assert [ctx.get("message") for ctx in reported] == []
