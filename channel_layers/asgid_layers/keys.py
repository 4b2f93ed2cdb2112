"""Every Redis key name used by the layer is built here, nowhere else.

Layout (``T`` is the shard tag, braces make it a Redis Cluster hash tag so all
keys of one shard share one slot and multi-key scripts stay legal):

* ``{prefix:T}:q:<name>``  list of queued elements of a named channel, or of a
  whole process when ``<name>`` is a process-local prefix (``specific.x!``).
* ``{prefix:T}:n:<name>``  hash of the counts of messages the process-local
  channels of a process hold (in Redis or in the owner's buffer); capacity is
  checked on it.
* ``{prefix:T}:g:<group>`` sorted set ``channel -> join time`` of the members whose
  channel lives on shard T.
* ``{prefix:T}:c:<group>`` hash ``channel -> capacity`` for those members whose
  capacity differs from the default, and ``<owner -> lowest`` per process.
* ``{prefix:T}:m:<group>`` the same members by process: ``owner -> "<id>:<n>:<0|1>"``
  naming the set ``{prefix:T}:s:<id>`` of its members' local parts, and
  ``named channel -> ""``. group_send queues one element per process naming the set.
* ``{prefix:T}:ids`` counter that numbers the member sets.
* ``{prefix:T}:procs`` sorted set ``owner -> last heartbeat`` (Redis time) of the
  processes whose queue is on shard T; one silent for ``process_expiry`` is reclaimed.
* ``{prefix:T}:og:<owner>`` set of the groups a process's channels joined on shard T.

The fields of the ``n:`` hash and the life of member sets are described in
``lua/common.lua``.

A script that reaches keys beyond its KEYS (group_send queues to every member
process) receives the shard's key base in ``ARGV[1]``, in every script, and builds
those keys with the Lua functions :func:`lua_source` generates from this module,
so the layout is spelled once, here.
"""

from __future__ import annotations

from dataclasses import dataclass

QUEUE = "q:"
COUNTS = "n:"
GROUP = "g:"
GROUP_CAPACITY = "c:"
GROUP_MEMBERS = "m:"
MEMBER_SET = "s:"
IDS = "ids"
PROCESSES = "procs"
OWNER_GROUPS = "og:"
PUBSUB_CHANNEL = "p:"
PUBSUB_GROUP = "pg:"


def non_local_name(channel: str) -> str:
    """The part of a channel name that routes it: up to and including ``!``."""
    bang = channel.find("!")
    return channel if bang < 0 else channel[: bang + 1]


def local_part(channel: str) -> str:
    """The part after ``!`` of a process-local channel, ``""`` for named ones."""
    bang = channel.find("!")
    return "" if bang < 0 else channel[bang + 1 :]


@dataclass(frozen=True)
class ShardKeys:
    """Key builder for one shard (one host, or one hash tag in a cluster)."""

    prefix: str
    tag: str

    @property
    def base(self) -> str:
        return f"{{{self.prefix}:{self.tag}}}:"

    def queue(self, channel: str) -> str:
        return self.base + QUEUE + non_local_name(channel)

    def counts(self, channel: str) -> str:
        return self.base + COUNTS + non_local_name(channel)

    def group(self, group: str) -> str:
        return self.base + GROUP + group

    def group_capacity(self, group: str) -> str:
        return self.base + GROUP_CAPACITY + group

    def group_members(self, group: str) -> str:
        return self.base + GROUP_MEMBERS + group

    def member_set(self, set_id: str) -> str:
        return self.base + MEMBER_SET + set_id

    def ids(self) -> str:
        return self.base + IDS

    def processes(self) -> str:
        return self.base + PROCESSES

    def owner_groups(self, owner: str) -> str:
        return self.base + OWNER_GROUPS + non_local_name(owner)

    def group_keys(self, group: str) -> list[str]:
        """KEYS of the group scripts: members, capacities, members by process."""
        return [self.group(group), self.group_capacity(group), self.group_members(group)]

    # Pub/Sub channel names of RedisPubSubChannelLayer (not keys, same namespace).
    def pubsub_channel(self, channel: str) -> str:
        return self.base + PUBSUB_CHANNEL + channel

    def pubsub_group(self, group: str) -> str:
        return self.base + PUBSUB_GROUP + group


def scan_pattern(prefix: str) -> str:
    """Glob matching every key of a layer with this prefix (used by ``flush``)."""
    escaped = "".join("\\" + c if c in "*?[]\\" else c for c in prefix)
    return f"{{{escaped}:*"


# The scripts' key builders: Lua function name, the key's tag, and whether it takes a
# suffix (a channel name, a process prefix, an id or a group).
_LUA_BUILDERS = (
    ("queue_key", QUEUE, True),
    ("counts_key", COUNTS, True),
    ("member_set_key", MEMBER_SET, True),
    ("ids_key", IDS, False),
    ("processes_key", PROCESSES, False),
    ("owner_groups_key", OWNER_GROUPS, True),
    ("group_key", GROUP, True),
    ("group_capacity_key", GROUP_CAPACITY, True),
    ("group_members_key", GROUP_MEMBERS, True),
)


def lua_source() -> str:
    """Key builders for the scripts over the key base in ``ARGV[1]``; a builder's argument
    is a named channel or a process prefix (``specific.x!``), as :func:`non_local_name`,
    an id or a group name."""
    lines = ["-- Keys: generated by keys.py, the layout's one home. ARGV[1] is the key base.",
             "local KEY_BASE = ARGV[1]"]  # fmt: skip
    for function, tag, suffixed in _LUA_BUILDERS:
        argument, tail = ("x", " .. x") if suffixed else ("", "")
        lines += [
            f"local function {function}({argument})",
            f"  return KEY_BASE .. '{tag}'{tail}",
            "end",
        ]
    return "\n".join(lines) + "\n"
