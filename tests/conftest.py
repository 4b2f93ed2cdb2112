from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.server import AsgidProcess

pytest_plugins = ["tests.support.tls_certs"]  # tls_files / tls_context / tls_server fixtures


@pytest.fixture
def asgid() -> Iterator[Callable[..., AsgidProcess]]:
    """Start ``asgid`` processes; every one still running is stopped after the test."""
    started: list[AsgidProcess] = []

    def start(app: str, *args: str, **kwargs: object) -> AsgidProcess:
        server = AsgidProcess(app, *args, **kwargs)  # type: ignore[arg-type]
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
