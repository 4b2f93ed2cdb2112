"""The cache of group member sets a process-local reader follows.

A group send queues one element per process naming a member set by id
(``ToGroup``); every membership change is queued beside the messages as a
``Change`` from the old id to the new one (``change_members`` in
``lua/common.lua``), so the reader follows the sets without reading them back.
On a miss (a new reader, an evicted entry) the set is read from Redis.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import Any

from .elements import Change
from .retry import NETWORK_ERRORS, Retrying
from .stats import LayerStats

logger = logging.getLogger(__name__)

_MAX_SETS = 4096


class MemberSets:
    """Member sets of one process's groups by id, with the ids that retired.

    A set is an insertion-ordered dict used as a set: a change edits it in place in
    constant time (a group of n members is built by n changes, so copying it on each
    would cost n squared). Only the reader's own task follows changes and delivers,
    one element after the other, so nothing sees a set while it changes.
    """

    def __init__(self, *, client: Any, key: Callable[[str], str], stats: LayerStats) -> None:
        self._client, self._key, self._stats = client, key, stats
        self._sets: dict[str, dict[str, None]] = {}
        self._retired: list[str] = []

    def clear(self) -> None:
        """Forget everything: a restarted Redis numbers its sets from 1 again."""
        self._sets.clear()

    def follow(self, change: Change) -> None:
        """Apply a change from set ``old`` to set ``new`` to the cache."""
        old, new = change.old, change.new
        members = self._sets.get(old) if old == new else self._sets.pop(old, None)
        if old == "":
            members = {}
        elif old != new:
            self._retired.append(old)
        if members is None or new == "":
            return
        if change.op == "+":
            members[change.local] = None
        else:
            members.pop(change.local, None)
        self._remember(new, members)

    async def members(self, set_id: str, retry: Retrying) -> Collection[str]:
        members = self._sets.get(set_id)
        if members is not None:
            return members
        while True:
            retry.begin()
            try:
                raw = await self._client.smembers(self._key(set_id))
            except NETWORK_ERRORS as exc:
                self._sets.clear()
                await retry.failed(exc)
                continue
            retry.succeeded()
            break
        members = dict.fromkeys(sorted(m.decode() for m in raw))
        if members:
            self._remember(set_id, members)
        else:
            # A set outlives every message naming it by `expiry`; only a message
            # already too old to deliver finds it gone.
            self._stats.expired += 1
        return members

    def _remember(self, set_id: str, members: dict[str, None]) -> None:
        if len(self._sets) >= _MAX_SETS and set_id not in self._sets:
            del self._sets[next(iter(self._sets))]  # oldest; read back if named again
        self._sets[set_id] = members

    async def forget_retired(self) -> None:
        """Delete superseded member sets now that no queued message names them."""
        if not self._retired:
            return
        keys, self._retired = [self._key(i) for i in self._retired], []
        try:
            await self._client.unlink(*keys)
        except NETWORK_ERRORS:
            pass  # they expire by themselves
