"""The Django app ``asgid``: lets ``INSTALLED_APPS = ["asgid", ...]`` take over ``runserver``.

Django imports this module (and ``asgid.management.commands``) only when ``asgid`` is an
installed app; ``asgid/__init__.py`` stays free of Django so the server runs without it.
"""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig, apps  # type: ignore[import-untyped]
from django.core import checks  # type: ignore[import-untyped]


class AsgidConfig(AppConfig):  # type: ignore[misc]
    name = "asgid"
    verbose_name = "asgid ASGI server"

    def ready(self) -> None:
        checks.register(check_listed_before_staticfiles, checks.Tags.staticfiles)


def check_listed_before_staticfiles(**_kwargs: Any) -> list[Any]:
    """Django takes ``runserver`` from the first app that has one: staticfiles must come later.

    A warning, not an error: an error would stop ``migrate`` and every other command too,
    while the project itself works; runserver shows the warning as it starts.
    """
    names = [config.name for config in apps.get_app_configs()]
    staticfiles = "django.contrib.staticfiles"
    if staticfiles in names and names.index(staticfiles) < names.index("asgid"):
        return [
            checks.Warning(
                '"asgid" comes after "django.contrib.staticfiles" in INSTALLED_APPS, so '
                "runserver is Django's WSGI server, not asgid",
                hint='Move "asgid" above "django.contrib.staticfiles" in INSTALLED_APPS.',
                id="asgid.W001",
            )
        ]
    return []
