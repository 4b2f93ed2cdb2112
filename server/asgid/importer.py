"""``"pkg.mod:attr"`` -> ASGI 3 callable, with messages that say what to fix."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from types import ModuleType
from typing import Any

from asgid.errors import AppImportError
from asgid.types import ASGIApp


def import_app(path: str, *, factory: bool = False, app_dir: str | None = None) -> ASGIApp:
    """Import ``module.path:attribute`` (attribute may be dotted), call it if a factory."""
    module_name, sep, attr_path = path.partition(":")
    if not sep or not module_name or not attr_path:
        raise AppImportError(
            f"application path {path!r} must be written module.path:attribute, "
            "e.g. myproject.asgi:application"
        )
    app: Any = _import_module(module_name, app_dir)
    for part in attr_path.split("."):
        try:
            app = getattr(app, part)
        except AttributeError:
            raise AppImportError(f"module {module_name!r} has no attribute {attr_path!r}") from None
    if factory:
        try:
            app = app()
        except Exception as exc:
            message = f"the factory {path!r} raised {type(exc).__name__}: {exc}"
            raise AppImportError(message) from exc
    if not callable(app):
        raise AppImportError(f"{path!r} is {type(app).__name__}, not an ASGI application")
    return _as_asgi3(app, path)


def _import_module(module_name: str, app_dir: str | None) -> ModuleType:
    """Import ``module_name`` with ``app_dir`` (default: the working directory) on sys.path."""
    directory = os.path.abspath(app_dir) if app_dir is not None else os.getcwd()
    if directory not in sys.path:
        sys.path.insert(0, directory)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise AppImportError(
                f"could not import module {module_name!r} (looked in {directory} and sys.path); "
                "check the spelling or pass --app-dir"
            ) from exc
        raise AppImportError(
            f"importing {module_name!r} failed: {exc}; install the missing package"
        ) from exc
    except Exception as exc:
        raise AppImportError(
            f"importing {module_name!r} raised {type(exc).__name__}: {exc}"
        ) from exc


def _as_asgi3(app: Any, path: str) -> ASGIApp:
    target = app if inspect.isfunction(app) or inspect.ismethod(app) else type(app).__call__
    if inspect.isclass(app):
        raise AppImportError(
            f"{path!r} is a class (ASGI 2 style); asgid serves ASGI 3 callables "
            "(async def app(scope, receive, send)); "
            "wrap it with asgiref's guarantee_single_callable"
        )
    try:
        params = [
            p
            for p in inspect.signature(target).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        return app  # type: ignore[no-any-return]
    if target is type(app).__call__:
        params = params[1:]
    if len(params) == 1:
        raise AppImportError(
            f"{path!r} takes one argument (ASGI 2 style); asgid serves ASGI 3 callables "
            "(scope, receive, send)"
        )
    return app  # type: ignore[no-any-return]
