"""The demo chat in a real Chromium: two pages on two asgid processes sharing one Redis.

Page A is served by process 1 and page B by process 2; both join one room. What A types
shows in B; broadcasts through the sync view, the ``announce`` command and an
Announcement's post_save signal show in both; B is in A's member list until B's page
closes, which A announces; reloading A shows the room's history. No request of either
page fails (favicon included, also on a page without an icon link) and the page fits a
phone's width. Screenshots of the pages are saved (path in the log) when anything fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.browser import chromium, require_browser, screenshots_on_failure
from tests.support.demo import DEMO_DIR, manage, redis_server
from tests.support.server import AsgidProcess

APP = "demo.asgi:application"
WAIT_MS = 10_000
PHONE = {"width": 375, "height": 740}


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    require_browser()
    with redis_server(tmp_path_factory.mktemp("browser-redis")) as url:
        env = {
            "DJANGO_SETTINGS_MODULE": "demo.settings",
            "DEMO_DB_PATH": str(tmp_path_factory.mktemp("browser-db") / "db.sqlite3"),
            "DEMO_REDIS_URL": url,
            "DEMO_CHANNEL_LAYER": "redis",
            "DEMO_DEBUG": "0",
        }
        manage(env, "migrate", "--noinput")
        yield env


@pytest.fixture(scope="module")
def servers(demo_env: dict[str, str]) -> Iterator[tuple[AsgidProcess, AsgidProcess]]:
    started: list[AsgidProcess] = []
    try:
        for _ in range(2):
            started.append(AsgidProcess(APP, "--app-dir", str(DEMO_DIR), env=demo_env))
        yield started[0], started[1]
    finally:
        for server in started:
            server.stop()


class PageProblems:
    """Console errors and failed or 4xx/5xx requests seen by one page."""

    def __init__(self, page: Any) -> None:
        self.seen: list[str] = []
        page.on("console", self._console)
        page.on("requestfailed", lambda r: self.seen.append(f"failed: {r.url}"))
        page.on("response", self._response)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.seen.append(f"console: {message.text}")

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.seen.append(f"HTTP {response.status}: {response.url}")


def _open(browser: Any, server: AsgidProcess, room: str, name: str, **context: Any) -> Any:
    ctx = browser.new_context(**context)
    # The page keeps its name in localStorage; set it before the first script runs.
    ctx.add_init_script(f"localStorage.setItem('chat-name', {name!r})")
    page = ctx.new_page()
    return page


def test_two_pages_on_two_processes_chat_in_one_room(
    servers: tuple[AsgidProcess, AsgidProcess], demo_env: dict[str, str], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    first, second = servers
    room = f"browser-{os.getpid()}"
    pages: dict[str, Any] = {}
    with chromium() as browser, screenshots_on_failure(pages, tmp_path / "screenshots"):
        a = pages["a"] = _open(browser, first, room, "ann")
        b = pages["b"] = _open(browser, second, room, "bob", viewport=PHONE)
        problems = {"a": PageProblems(a), "b": PageProblems(b)}
        a.goto(f"{first.url}/chat/{room}/")
        expect(a.locator("#log")).to_contain_text(f"connected to #{room} as ann")
        b.goto(f"{second.url}/chat/{room}/")
        expect(b.locator("#log")).to_contain_text(f"(server pid {second.proc.pid})")

        # Presence across processes: each lists the other.
        expect(a.locator("#members")).to_contain_text("bob")
        expect(b.locator("#members li")).to_have_text(["bob (you)", "ann"])
        expect(a.locator("#log")).to_contain_text("bob joined")

        a.locator("#chat input[name=message]").fill("typed in A")
        a.locator("#chat button").click()
        expect(b.locator("#log")).to_contain_text("ann: typed in A")

        b.locator("#broadcast input[name=message]").fill("through the view")
        b.locator("#broadcast button").click()
        manage(demo_env, "announce", room, "through the command")
        create = (
            "from chat.models import Announcement; "
            f"Announcement.objects.create(room={room!r}, text='through the signal')"
        )
        manage(demo_env, "shell", "-c", create)
        for page in (a, b):
            log = expect(page.locator("#log"))
            log.to_contain_text("http form: through the view")
            log.to_contain_text("manage.py: through the command")
            log.to_contain_text("announcement: through the signal")

        # Usable on a phone: nothing wider than the screen.
        assert b.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

        b.close()
        expect(a.locator("#log")).to_contain_text("bob left")
        expect(a.locator("#members")).not_to_contain_text("bob")

        a.reload()
        expect(a.locator("#log .history")).to_contain_text(["ann: typed in A"])
        expect(a.locator("#log .history").last).to_contain_text("through the signal")

        # Pages without an icon link (the JSON of /info/, Django's admin) make the browser
        # ask for /favicon.ico; the demo answers it rather than log a 404 in the console.
        mark = first.mark()
        info = pages["info"] = a.context.new_page()
        problems["info"] = PageProblems(info)
        info.goto(f"{first.url}/info/")
        expect(info.locator("body")).to_contain_text(f'"pid": {first.proc.pid}')
        first.wait_for('"GET /favicon.ico HTTP/1.1" 200', since=mark)
        assert {name: seen.seen for name, seen in problems.items() if seen.seen} == {}
