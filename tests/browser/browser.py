"""Find Playwright and the system Chromium; skip locally, fail under CI, when one is missing."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"

logger = logging.getLogger(__name__)


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python (pip install playwright; it is in the dev extra)"
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        return f"Chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it)"
    return None


def require_browser() -> None:
    """Skip naming what is missing; under CI=true a missing browser is a failure."""
    missing = _missing()
    if missing is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"the browser test needs {missing}")
    pytest.skip(f"the browser test needs {missing}")


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium of the system (Playwright never downloads a browser here)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: CI containers run as root, where Chromium's sandbox refuses to
        # start; containers also tend to have a tiny /dev/shm.
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def screenshots_on_failure(pages: dict[str, Any], directory: Path) -> Iterator[None]:
    """On any failure save a full-page screenshot of every open page, then re-raise."""
    try:
        yield
    except BaseException:
        directory.mkdir(parents=True, exist_ok=True)
        for name, page in pages.items():
            if page.is_closed():
                continue
            path = directory / f"{name}.png"
            with contextlib.suppress(Exception):
                page.screenshot(path=str(path), full_page=True)
                logger.error("screenshot of page %s saved to %s", name, path)
        raise
