"""Lua sources as files, registered once per client (EVALSHA, reload on NOSCRIPT)."""

from __future__ import annotations

from importlib import resources
from typing import Any

NAMES = ("send", "release", "group_add", "group_discard", "group_send")
COMMON = "common"


def load_sources() -> dict[str, str]:
    """Read ``lua/*.lua``, each behind ``common.lua`` (a script cannot import).

    Called when a layer is built, never at import time.
    """
    folder = resources.files(__package__).joinpath("lua")
    common = folder.joinpath(f"{COMMON}.lua").read_text("utf-8")
    return {
        name: common + "\n" + folder.joinpath(f"{name}.lua").read_text("utf-8") for name in NAMES
    }


class Scripts:
    """The layer's scripts bound to one client.

    redis-py's ``register_script`` object runs EVALSHA and, on NOSCRIPT (e.g. after
    a Redis restart or a Cluster failover), loads the source and retries.
    """

    def __init__(self, client: Any, sources: dict[str, str]) -> None:
        self._scripts = {name: client.register_script(src) for name, src in sources.items()}

    async def run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return await self._scripts[name](keys=keys, args=args)
