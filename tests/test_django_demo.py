"""The Django Channels demo served by real asgid processes over a private Redis.

One redis-server and two asgid processes (A and B, sharing that Redis and one migrated
sqlite file) serve the whole module; each test uses its own room names so tests stay
independent.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.support.demo import DEMO_DIR, manage, redis_server
from tests.support.django_project import LoggedProcess
from tests.support.net import free_port
from tests.support.server import REPO, AsgidProcess

APP = "demo.asgi:application"
RECEIVE_TIMEOUT_S = 5.0
_rooms = itertools.count()


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("demo-redis")) as url:
        yield url


@pytest.fixture(scope="module")
def demo_env(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment of every demo process; the sqlite file is migrated once, here."""
    env = {
        "DJANGO_SETTINGS_MODULE": "demo.settings",
        "DEMO_DB_PATH": str(tmp_path_factory.mktemp("demo-db") / "db.sqlite3"),
        "DEMO_REDIS_URL": redis_url,
        "DEMO_CHANNEL_LAYER": "redis",
        "DEMO_DEBUG": "0",
    }
    manage(env, "migrate", "--noinput")
    return env


def _start(env: dict[str, str]) -> AsgidProcess:
    return AsgidProcess(APP, "--app-dir", str(DEMO_DIR), env=env)


@pytest.fixture(scope="module")
def servers(demo_env: dict[str, str]) -> Iterator[tuple[AsgidProcess, AsgidProcess]]:
    """Two independent asgid processes behind the same Redis."""
    started: list[AsgidProcess] = []
    try:
        started.append(_start(demo_env))
        started.append(_start(demo_env))
        yield started[0], started[1]
    finally:
        for server in started:
            server.stop()


@pytest.fixture(scope="module")
def server(servers: tuple[AsgidProcess, AsgidProcess]) -> AsgidProcess:
    return servers[0]


def _room(name: str) -> str:
    return f"{name}-{os.getpid()}-{next(_rooms)}"


def _ws_url(server: AsgidProcess, room: str) -> str:
    return f"ws://{server.host}:{server.port}/ws/chat/{room}/"


async def _join(server: AsgidProcess, room: str, name: str = "tester") -> ClientConnection:
    """Connect like a browser on the demo's page would (with its Origin); eat the welcome."""
    url = f"{_ws_url(server, room)}?name={name}"
    ws = await connect(url, origin=server.url, open_timeout=RECEIVE_TIMEOUT_S)
    welcome = await _next(ws)
    assert welcome["type"] == "welcome"
    assert (welcome["room"], welcome["server_pid"], welcome["name"]) == (
        room,
        server.proc.pid,
        name,
    )
    return ws


PRESENCE = ("join", "here", "leave")


async def _next(ws: ClientConnection, *wanted: str) -> dict[str, Any]:
    """The next event of a wanted type (default: anything but presence notices)."""
    while True:
        data = await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_S)
        result: dict[str, Any] = json.loads(data)
        if result["type"] in wanted or (not wanted and result["type"] not in PRESENCE):
            return result


async def _broadcast(server: AsgidProcess, room: str, **fields: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=RECEIVE_TIMEOUT_S) as client:
        return await client.post(f"/broadcast/{room}/", data=fields)


# --- plain HTTP -------------------------------------------------------------------------


def test_room_page_renders(server: AsgidProcess) -> None:
    response = httpx.get(f"{server.url}/chat/lobby/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "Room #lobby" in response.text
    assert "new WebSocket(" in response.text
    assert '<script id="room-name" type="application/json">"lobby"</script>' in response.text


def test_index_lists_rooms_and_redirects(server: AsgidProcess) -> None:
    index = httpx.get(f"{server.url}/")
    assert index.status_code == 200
    assert 'href="/chat/lobby/"' in index.text
    redirect = httpx.get(f"{server.url}/", params={"room": "kitchen"})
    assert redirect.status_code == 302
    assert redirect.headers["location"] == "/chat/kitchen/"


def test_room_names_are_limited_to_group_name_characters(server: AsgidProcess) -> None:
    assert httpx.get(f"{server.url}/chat/no%20spaces/").status_code == 404
    assert httpx.get(f"{server.url}/chat/{'x' * 51}/").status_code == 404


def test_server_info_comes_from_a_sync_view_in_a_worker_thread(server: AsgidProcess) -> None:
    info = httpx.get(f"{server.url}/info/").json()
    assert info["pid"] == server.proc.pid
    assert info["channel_layer"] == "asgid_layers.core.RedisChannelLayer"
    assert info["asgi"]["version"] == "3.0"
    assert info["http_version"] == "1.1"
    assert info["server"] == ["127.0.0.1", server.port]
    assert info["thread"] != "MainThread"


def test_views_answer_over_http2_too(server: AsgidProcess) -> None:
    """Django does not care which HTTP version asgid spoke (h2c with prior knowledge here)."""
    with httpx.Client(http1=False, http2=True) as client:
        response = client.get(f"{server.url}/info/")
    assert response.http_version == "HTTP/2"
    assert response.json()["http_version"] == "2"


async def test_broadcast_validates_its_input(server: AsgidProcess) -> None:
    room = _room("validate")
    assert (await _broadcast(server, room, message="  ")).status_code == 400
    async with httpx.AsyncClient(base_url=server.url) as client:
        assert (await client.get(f"/broadcast/{room}/")).status_code == 405
        bad_json = await client.post(
            f"/broadcast/{room}/", content=b"{", headers={"content-type": "application/json"}
        )
        assert bad_json.status_code == 400


# --- WebSockets through the Redis layer ---------------------------------------------------


async def test_two_clients_in_a_room_both_receive_and_other_rooms_do_not(
    server: AsgidProcess,
) -> None:
    room, other_room = _room("pair"), _room("elsewhere")
    alice, bob, carol = (
        await _join(server, room),
        await _join(server, room),
        await _join(server, other_room),
    )
    try:
        await alice.send(json.dumps({"message": "hello room, ünïcödé ✓", "author": "alice"}))
        for ws in (alice, bob):
            received = await _next(ws)
            assert received["type"] == "message"
            assert received["message"] == "hello room, ünïcödé ✓"
            assert received["author"] == "alice"
            assert received["source"] == "websocket"
            assert received["room"] == room
        # Carol's first message must be this marker: had the message leaked into her room,
        # it would have reached her before the marker was even sent.
        await carol.send(json.dumps({"message": "marker", "author": "carol"}))
        assert (await _next(carol))["message"] == "marker"
    finally:
        for ws in (alice, bob, carol):
            await ws.close()


async def test_invalid_client_message_gets_an_error_only_to_its_sender(
    server: AsgidProcess,
) -> None:
    room = _room("invalid")
    ws = await _join(server, room)
    try:
        await ws.send("not json")
        assert (await _next(ws))["type"] == "error"
        await ws.send(json.dumps({"message": ""}))
        assert (await _next(ws))["type"] == "error"
        await ws.send(json.dumps({"message": "x" * 2001}))
        assert (await _next(ws))["type"] == "error"
    finally:
        await ws.close()


async def test_broadcast_view_reaches_every_client_of_the_room(server: AsgidProcess) -> None:
    room = _room("broadcast")
    clients = [await _join(server, room) for _ in range(3)]
    try:
        response = await _broadcast(server, room, message="from a sync view", author="ops")
        assert response.status_code == 200
        assert response.json() == {
            "room": room,
            "message": "from a sync view",
            "sent_by_pid": server.proc.pid,
        }
        for ws in clients:
            received = await _next(ws)
            assert received["message"] == "from a sync view"
            assert received["author"] == "ops"
            assert received["source"] == "http"
    finally:
        for ws in clients:
            await ws.close()


async def test_foreign_origin_is_refused(server: AsgidProcess) -> None:
    """AllowedHostsOriginValidator: another site's page may not open our sockets."""
    with pytest.raises(InvalidStatus) as refused:
        await connect(
            _ws_url(server, "lobby"), origin="http://evil.example", open_timeout=RECEIVE_TIMEOUT_S
        )
    assert refused.value.response.status_code == 403


async def test_groups_span_processes_sharing_one_redis(
    servers: tuple[AsgidProcess, AsgidProcess],
) -> None:
    a, b = servers
    assert a.proc.pid != b.proc.pid
    room = _room("cross")
    on_a, on_b = await _join(a, room), await _join(b, room)
    try:
        response = await _broadcast(b, room, message="via B's view")
        assert response.json()["sent_by_pid"] == b.proc.pid
        for ws, server in ((on_a, a), (on_b, b)):
            received = await _next(ws)
            assert received["message"] == "via B's view"
            assert received["sent_by_pid"] == b.proc.pid
            assert received["delivered_by_pid"] == server.proc.pid
        await on_a.send(json.dumps({"message": "from a client on A"}))
        for ws in (on_a, on_b):
            received = await _next(ws)
            assert received["message"] == "from a client on A"
            assert received["sent_by_pid"] == a.proc.pid
    finally:
        await on_a.close()
        await on_b.close()


def _log_in(server: AsgidProcess, env: dict[str, str], username: str, password: str) -> str:
    """Create a user with manage.py, log in through the admin's form; the session cookie."""
    create = ("createsuperuser", "--noinput", "--username", username, "--email", "a@example.com")
    manage({**env, "DJANGO_SUPERUSER_PASSWORD": password}, *create)
    with httpx.Client(base_url=server.url) as client:
        form = client.get("/admin/login/").text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
        assert token is not None
        response = client.post(
            "/admin/login/",
            data={"username": username, "password": password, "next": "/chat/lobby/"}
            | {"csrfmiddlewaretoken": token.group(1)},
        )
        assert response.status_code == 302, response.text
        assert "you chat as <b>" + username in client.get("/chat/lobby/").text
        return str(client.cookies["sessionid"])


async def test_logged_in_users_chat_under_their_user_name(
    server: AsgidProcess, demo_env: dict[str, str]
) -> None:
    """AuthMiddlewareStack reads the Django session cookie sent with the WebSocket handshake."""
    session = _log_in(server, demo_env, "ann", "correct horse battery")
    room = _room("auth")
    ws = await connect(
        _ws_url(server, room),
        origin=server.url,
        additional_headers={"Cookie": f"sessionid={session}"},
        open_timeout=RECEIVE_TIMEOUT_S,
    )
    try:
        assert (await _next(ws))["type"] == "welcome"
        await ws.send(json.dumps({"message": "it is me", "author": "someone else"}))
        assert (await _next(ws))["author"] == "ann"
    finally:
        await ws.close()


def test_local_settings_memory_layer_and_debug_static_files(
    asgid: Any, demo_env: dict[str, str]
) -> None:
    """DEMO_CHANNEL_LAYER=memory needs no Redis; with DEMO_DEBUG=1 the admin is styled."""
    env = {**demo_env, "DEMO_CHANNEL_LAYER": "memory", "DEMO_DEBUG": "1"}
    server = asgid(APP, "--app-dir", str(DEMO_DIR), env=env)
    info = httpx.get(f"{server.url}/info/").json()
    assert info["channel_layer"] == "channels.layers.InMemoryChannelLayer"
    css = httpx.get(f"{server.url}/static/admin/css/base.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")


def test_manage_py_runs_from_the_repository_root(demo_env: dict[str, str]) -> None:
    """`make demo` runs manage.py from the repository root; Django must find the project."""
    result = subprocess.run(
        [sys.executable, "django_demo/manage.py", "check", "--deploy", "--fail-level", "ERROR"],
        cwd=str(REPO),
        env={**os.environ, **demo_env, "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert Path(demo_env["DEMO_DB_PATH"]).exists()


async def test_unreachable_redis_gives_clear_errors(asgid: Any, demo_env: dict[str, str]) -> None:
    """Without Redis the pages still work; broadcasting answers 503, joining a room is refused."""
    dead_url = f"redis://127.0.0.1:{free_port()}/0"
    server = asgid(APP, "--app-dir", str(DEMO_DIR), env={**demo_env, "DEMO_REDIS_URL": dead_url})
    assert httpx.get(f"{server.url}/chat/lobby/").status_code == 200
    response = await _broadcast(server, "lobby", message="nobody hears this")
    assert response.status_code == 503
    assert "DEMO_CHANNEL_LAYER=memory" in response.json()["error"]
    with pytest.raises(InvalidStatus) as refused:
        await connect(_ws_url(server, "lobby"), origin=server.url, open_timeout=5)
    assert refused.value.response.status_code == 403
    server.wait_for("is redis-server running at DEMO_REDIS_URL?")


# --- presence, history and the three sync ways to broadcast -------------------------------


async def test_presence_spans_processes(servers: tuple[AsgidProcess, AsgidProcess]) -> None:
    """A member list kept through the channel layer: join, here (the answer), leave."""
    a, b = servers
    room = _room("presence")
    ann = await _join(a, room, "ann")
    try:
        own = await _next(ann, "join")
        assert own["name"] == "ann"
        bob = await _join(b, room, "bob")
        joined = await _next(ann, "join")
        assert joined["name"] == "bob"
        assert [(await _next(bob, "here"))["name"]] == ["ann"]
        await bob.close()
        left = await _next(ann, "leave")
        assert (left["name"], left["id"]) == ("bob", joined["id"])
    finally:
        await ann.close()


async def test_history_of_the_last_50_messages_is_shown_on_join(server: AsgidProcess) -> None:
    room = _room("history")
    ws = await _join(server, room)
    try:
        await ws.send(json.dumps({"message": "typed first", "author": "ann"}))
        assert (await _next(ws))["message"] == "typed first"
    finally:
        await ws.close()
    for n in range(52):
        assert (await _broadcast(server, room, message=f"posted {n}")).status_code == 200
    late = await connect(f"{_ws_url(server, room)}?name=late", origin=server.url)
    try:
        history = (await _next(late, "welcome"))["history"]
    finally:
        await late.close()
    assert len(history) == 50
    assert [h["message"] for h in history] == [f"posted {n}" for n in range(2, 52)]
    assert history[-1]["source"] == "http"


async def test_announce_command_and_model_signal_reach_both_processes(
    servers: tuple[AsgidProcess, AsgidProcess], demo_env: dict[str, str]
) -> None:
    a, b = servers
    room = _room("announce")
    on_a, on_b = await _join(a, room), await _join(b, room)
    try:
        await asyncio.to_thread(manage, demo_env, "announce", room, "from the command line")
        for ws in (on_a, on_b):
            received = await _next(ws)
            assert (received["message"], received["source"]) == ("from the command line", "command")
        create = (
            "from chat.models import Announcement; "
            f"Announcement.objects.create(room={room!r}, text='saved')"
        )
        await asyncio.to_thread(manage, demo_env, "shell", "-c", create)
        for ws in (on_a, on_b):
            received = await _next(ws)
            assert (received["message"], received["author"], received["source"]) == (
                "saved",
                "announcement",
                "signal",
            )
    finally:
        await on_a.close()
        await on_b.close()


def test_announce_refuses_a_bad_room_name(demo_env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, str(DEMO_DIR / "manage.py"), "announce", "no spaces", "hi"],
        env={**os.environ, "PYTHONPATH": str(REPO), **demo_env},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1
    assert "is not a room name" in result.stderr


def test_announce_with_the_memory_layer_says_it_reaches_no_server(
    demo_env: dict[str, str],
) -> None:
    result = subprocess.run(
        [sys.executable, str(DEMO_DIR / "manage.py"), "announce", "lobby", "hi"],
        env={**os.environ, "PYTHONPATH": str(REPO), **demo_env, "DEMO_CHANNEL_LAYER": "memory"},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0
    assert "the in-memory channel layer cannot reach a running server" in result.stderr
    assert "sent to" not in result.stdout


# --- make demo ------------------------------------------------------------------------------


def _make_demo(env: dict[str, str], ready: str) -> LoggedProcess:
    """``django_demo/serve.py`` (what ``make demo`` runs) on a free port."""
    command = [sys.executable, str(DEMO_DIR / "serve.py"), "-e", "tcp:0:interface=127.0.0.1"]
    demo = LoggedProcess(command, cwd=REPO, env=env)
    demo.wait_for(ready)
    return demo


def _listening_url(demo: LoggedProcess) -> str:
    for line in demo.output.splitlines():
        if "Listening on tcp:" in line:
            return "http://" + line.rsplit("Listening on tcp:", 1)[1].strip()
    raise AssertionError(demo.output)


def test_make_demo_runs_two_workers_through_redis(demo_env: dict[str, str]) -> None:
    demo = _make_demo(demo_env, "asgid ready: 2 workers")
    try:
        info = httpx.get(f"{_listening_url(demo)}/info/").json()
        assert info["channel_layer"] == "asgid_layers.core.RedisChannelLayer"
        assert "WARNING" not in demo.output
    finally:
        assert demo.interrupt() == 0


def test_make_demo_without_redis_warns_once_and_runs_one_worker_in_memory(
    demo_env: dict[str, str],
) -> None:
    dead_url = f"redis://127.0.0.1:{free_port()}/0"
    demo = _make_demo({**demo_env, "DEMO_REDIS_URL": dead_url}, "asgid ready: serving")
    try:
        info = httpx.get(f"{_listening_url(demo)}/info/").json()
        assert info["channel_layer"] == "channels.layers.InMemoryChannelLayer"
        warnings = [line for line in demo.output.splitlines() if "WARNING" in line]
        assert len(warnings) == 1
        assert f"no Redis answers at {dead_url}" in warnings[0]
        assert "workers" not in demo.output
    finally:
        assert demo.interrupt() == 0
