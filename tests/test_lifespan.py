"""ASGI lifespan over a real process: order, failure exit status, state, auto/on/off."""

from __future__ import annotations

import signal

import httpx

from tests.support.server import AsgidProcess

UNSUPPORTED = "lifespan' protocol appears unsupported"


def test_startup_runs_before_listening_and_shutdown_on_sigterm(asgid):
    server = asgid("tests.apps.ops:app")
    output = server.output
    assert output.index("MARK lifespan startup") < output.index("Listening on")
    assert httpx.get(server.url + "/").text == "ok"
    assert server.stop() == 0
    assert "MARK lifespan shutdown" in server.output


def test_state_is_shared_as_a_shallow_copy(asgid):
    server = asgid("tests.apps.ops:app")
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/state").json() == ["db", "started_at"]
        # The first request added a key to its own copy; the next scope does not see it.
        assert client.get("/state").json() == ["db", "started_at"]


def test_startup_failed_exits_3_with_the_apps_message(asgid):
    server: AsgidProcess = asgid("tests.apps.ops:startup_fails", expect_ready=False)
    assert server.wait() == 3
    assert "Application startup failed: database unreachable" in server.output
    assert "Listening on" not in server.output


def test_exception_in_startup_with_lifespan_on_exits_3(asgid):
    server = asgid("tests.apps.ops:startup_raises", "--lifespan", "on", expect_ready=False)
    assert server.wait() == 3
    assert "cache server refused the connection" in server.output
    assert "Listening on" not in server.output


def test_auto_tolerates_an_app_without_lifespan(asgid):
    server = asgid("tests.apps.ops:django_like")  # --lifespan auto is the default
    assert httpx.get(server.url + "/").text == "ok"
    assert server.output.count(UNSUPPORTED) == 1
    assert "Traceback" not in server.output
    assert server.stop() == 0


def test_auto_tolerates_an_app_raising_in_startup(asgid):
    server = asgid("tests.apps.ops:startup_raises", "--lifespan", "auto")
    assert httpx.get(server.url + "/").text == "ok"
    assert UNSUPPORTED in server.output


def test_off_never_calls_lifespan(asgid):
    server = asgid("tests.apps.ops:app", "--lifespan", "off")
    assert httpx.get(server.url + "/state").json() == []
    assert server.stop() == 0
    assert "MARK lifespan" not in server.output


def test_off_serves_an_app_whose_startup_would_fail(asgid):
    server = asgid("tests.apps.ops:startup_fails", "--lifespan", "off")
    assert httpx.get(server.url + "/").text == "should never serve"


def test_sigterm_during_a_hanging_startup_stops_the_server(asgid):
    server = asgid("tests.apps.ops:slow_startup", "--lifespan", "on", expect_ready=False)
    server.wait_for("MARK startup hangs")
    server.signal(signal.SIGTERM)
    assert server.wait(10) == 0
    assert "stopped during application startup" in server.output
    assert "Traceback" not in server.output
    assert "Listening on" not in server.output
