"""A throwaway Django project (settings, a view, a static file, a Channels echo consumer)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from tests.support.server import REPO

SETTINGS = """
DEBUG = {debug}
SECRET_KEY = "throwaway-test-project"
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = {apps!r}
ROOT_URLCONF = "site_app.urls"
ASGI_APPLICATION = "proj.asgi.application"
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}}}
STATIC_URL = "static/"
USE_TZ = True
# The autoreloader says when it first saw each file: a test edits a file only after that,
# or the edit would become the baseline instead of a change.
LOGGING = {{
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {{"console": {{"class": "logging.StreamHandler"}}}},
    "loggers": {{
        "django.utils.autoreload": {{"handlers": ["console"], "level": "DEBUG"}},
    }},
}}
"""

ASGI = """
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
http = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from site_app.consumers import Echo  # noqa: E402

application = ProtocolTypeRouter(
    {"http": http, "websocket": URLRouter([path("ws/echo/", Echo.as_asgi())])}
)
"""

CONSUMERS = """
from channels.generic.websocket import WebsocketConsumer


class Echo(WebsocketConsumer):
    def receive(self, text_data=None, bytes_data=None):
        self.send(text_data="echo: " + (text_data or ""))
"""

URLS = """
from django.urls import path

from site_app import views

urlpatterns = [path("", views.page), path("info/", views.info)]
"""

VIEWS = """
from django.http import HttpResponse, JsonResponse

GREETING = "{greeting}"


def page(request):
    return HttpResponse(GREETING)


def info(request):
    scope = getattr(request, "scope", {{}})
    return JsonResponse({{"http_version": scope.get("http_version"), "scheme": request.scheme}})
"""

MANAGE = """
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
from django.core.management import execute_from_command_line

execute_from_command_line(sys.argv)
"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())


def write_views(root: Path, greeting: str) -> None:
    _write(root / "site_app" / "views.py", VIEWS.format(greeting=greeting))


APPS = ["asgid", "django.contrib.contenttypes", "django.contrib.staticfiles", "site_app"]


def make_project(
    root: Path,
    *,
    debug: bool = True,
    greeting: str = "hello from django",
    apps: list[str] = APPS,
    extra_settings: str = "",
) -> Path:
    """Write the project under ``root``; return the path of its ``manage.py``."""
    _write(root / "manage.py", MANAGE)
    _write(root / "proj" / "__init__.py", "")
    settings = SETTINGS.format(debug=debug, apps=apps) + textwrap.dedent(extra_settings)
    _write(root / "proj" / "settings.py", settings)
    _write(root / "proj" / "asgi.py", ASGI)
    _write(root / "site_app" / "__init__.py", "")
    _write(root / "site_app" / "consumers.py", CONSUMERS)
    _write(root / "site_app" / "urls.py", URLS)
    _write(root / "site_app" / "static" / "site_app" / "style.css", "body { color: teal; }\n")
    write_views(root, greeting)
    return root / "manage.py"


class LoggedProcess:
    """A command in its own session (so a test can ^C it like a terminal), output kept."""

    def __init__(self, command: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.command = command
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO)}
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**full_env, **(env or {})},
            cwd=str(cwd),
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(line)

    @property
    def output(self) -> str:
        with self._lock:
            return "".join(self.lines)

    def count(self, text: str) -> int:
        with self._lock:
            return sum(text in line for line in self.lines)

    def wait_for(self, text: str, times: int = 1, timeout: float = 30.0) -> None:
        """Wait until ``text`` has been logged ``times`` times (readiness, restarts)."""
        deadline = time.monotonic() + timeout
        while self.count(text) < times:
            if time.monotonic() > deadline or (
                self.proc.poll() is not None and not self._reader.is_alive()
            ):
                raise AssertionError(f"{text!r} not logged {times}x:\n{self.output}")
            time.sleep(0.02)

    def interrupt(self, timeout: float = 20.0) -> int:
        """Ctrl-C as a terminal sends it: SIGINT to the whole process group."""
        os.killpg(self.proc.pid, signal.SIGINT)
        code = self.proc.wait(timeout)
        self._close()
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._close()

    def _close(self) -> None:
        self._reader.join(5)
        if self.proc.stdout is not None and not self._reader.is_alive():
            self.proc.stdout.close()


class RunserverProcess(LoggedProcess):
    """``manage.py runserver ARGS`` in the project's directory."""

    def __init__(self, manage_py: Path, *args: str, env: dict[str, str] | None = None) -> None:
        command = [sys.executable, str(manage_py), "runserver", *args]
        super().__init__(command, cwd=manage_py.parent, env=env)
