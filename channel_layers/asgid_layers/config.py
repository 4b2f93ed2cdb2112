"""Decode and validate channels_redis-compatible ``CONFIG`` keys.

Every key is checked once here; unknown or wrongly typed keys raise
``ImproperlyConfigured`` naming the key, so a typo in ``CHANNEL_LAYERS`` fails
at start-up instead of being ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped]

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
_URL_SCHEMES = ("redis", "rediss", "unix", *CLUSTER_SCHEMES)


@dataclass(frozen=True)
class HostSpec:
    """One entry of ``hosts`` decoded: a URL, an address, or a Sentinel master."""

    url: str | None = None
    address: tuple[str, int] | None = None
    master_name: str | None = None
    sentinels: tuple[tuple[str, int], ...] = ()
    sentinel_kwargs: Mapping[str, Any] = field(default_factory=dict)
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if self.master_name:
            return f"sentinel master {self.master_name!r}"
        if self.url:
            parts = urlsplit(self.url)
            return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}"
        assert self.address is not None
        return f"{self.address[0]}:{self.address[1]}"


@dataclass(frozen=True)
class LayerConfig:
    hosts: tuple[HostSpec, ...]
    prefix: str = "asgi"
    expiry: float = 60
    group_expiry: int = 86400
    capacity: int = 100
    channel_capacity: Mapping[Any, int] = field(default_factory=dict)
    symmetric_encryption_keys: tuple[str | bytes, ...] = ()
    serializer_format: str = "msgpack"
    random_prefix_length: int = 12
    cluster: bool = False
    cluster_shards: int = 16
    reconnect_timeout: float = 10
    process_expiry: int = 30


_NUMBERS: dict[str, tuple[type, ...]] = {
    "expiry": (int, float),
    "group_expiry": (int,),
    "capacity": (int,),
    "random_prefix_length": (int,),
    "cluster_shards": (int,),
    "reconnect_timeout": (int, float),
    "process_expiry": (int,),
}

# A healthy idle blocking pop answers every BLOCK_S (2 s); a shorter wait would
# call a quiet Redis unreachable, and a process heartbeats every third of
# process_expiry.
_AT_LEAST_S = {"reconnect_timeout": 3, "process_expiry": 3}


def parse_config(options: Mapping[str, Any]) -> LayerConfig:
    """Build a :class:`LayerConfig` from ``CHANNEL_LAYERS[...]["CONFIG"]``."""
    known = set(LayerConfig.__dataclass_fields__)
    for key in options:
        if key not in known:
            raise ImproperlyConfigured(
                f"asgid_layers: unknown CONFIG key {key!r}; known keys: {sorted(known)}"
            )
    values: dict[str, Any] = {}
    for key, kinds in _NUMBERS.items():
        if key in options:
            value: Any = options[key]
            if isinstance(value, bool) or not isinstance(value, kinds) or _negative(value):
                raise ImproperlyConfigured(f"CONFIG[{key!r}] must be a non-negative number")
            values[key] = value
    if values.get("capacity") == 0 or values.get("cluster_shards") == 0:
        raise ImproperlyConfigured("CONFIG['capacity'] and ['cluster_shards'] must be > 0")
    for key, least in _AT_LEAST_S.items():
        if values.get(key, least) < least:
            raise ImproperlyConfigured(f"CONFIG[{key!r}] must be at least {least} seconds")
    values["prefix"] = _prefix(options.get("prefix", "asgi"))
    values["channel_capacity"] = _channel_capacity(options.get("channel_capacity") or {})
    values["symmetric_encryption_keys"] = _keys(options.get("symmetric_encryption_keys"))
    fmt = options.get("serializer_format", "msgpack")
    if fmt not in ("msgpack", "json"):
        raise ImproperlyConfigured("CONFIG['serializer_format'] must be 'msgpack' or 'json'")
    values["serializer_format"] = fmt
    hosts = tuple(_host(h) for h in _host_list(options.get("hosts")))
    cluster = options.get("cluster", False)
    if not isinstance(cluster, bool):
        raise ImproperlyConfigured("CONFIG['cluster'] must be True or False")
    cluster = cluster or any(urlsplit(h.url or "").scheme in CLUSTER_SCHEMES for h in hosts)
    if cluster and any(h.master_name for h in hosts):
        raise ImproperlyConfigured("CONFIG['hosts'] cannot mix Cluster and Sentinel")
    return LayerConfig(hosts=hosts, cluster=cluster, **values)


def _negative(value: Any) -> bool:
    return bool(value < 0)


def _prefix(value: Any) -> str:
    if not isinstance(value, str) or not value or re.search(r"[{}\s]", value):
        raise ImproperlyConfigured("CONFIG['prefix'] must be a non-empty string without {, }")
    return value


def _channel_capacity(value: Any) -> dict[Any, int]:
    if not isinstance(value, Mapping):
        raise ImproperlyConfigured("CONFIG['channel_capacity'] must be a dict pattern -> int")
    for pattern, cap in value.items():
        ok_pattern = isinstance(pattern, str) or hasattr(pattern, "match")
        if not ok_pattern or isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            raise ImproperlyConfigured(
                f"CONFIG['channel_capacity'][{pattern!r}] must map a glob or regex to an int > 0"
            )
    return dict(value)


def _keys(value: Any) -> tuple[str | bytes, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise ImproperlyConfigured("CONFIG['symmetric_encryption_keys'] must be a list of keys")
    if not all(isinstance(k, (str, bytes)) and k for k in value):
        raise ImproperlyConfigured("CONFIG['symmetric_encryption_keys'] items must be strings")
    return tuple(value)


def _host_list(value: Any) -> list[Any]:
    if value is None:
        return [("localhost", 6379)]
    if isinstance(value, (str, dict)) or not isinstance(value, (list, tuple)) or not value:
        raise ImproperlyConfigured("CONFIG['hosts'] must be a non-empty list")
    return list(value)


def _host(entry: Any) -> HostSpec:
    if isinstance(entry, str):
        return HostSpec(url=_url(entry))
    if isinstance(entry, (tuple, list)):
        return HostSpec(address=_address(entry))
    if not isinstance(entry, Mapping):
        raise ImproperlyConfigured(f"CONFIG['hosts'] entry {entry!r} is not a URL, tuple or dict")
    kwargs = dict(entry)
    if "master_name" in kwargs:
        name = kwargs.pop("master_name")
        sentinels = kwargs.pop("sentinels", None)
        if not isinstance(name, str) or not isinstance(sentinels, (list, tuple)) or not sentinels:
            raise ImproperlyConfigured(
                "CONFIG['hosts'] Sentinel entries need 'master_name' and a 'sentinels' list"
            )
        sentinel_kwargs = kwargs.pop("sentinel_kwargs", None) or {}
        addresses = tuple(_address(s) for s in sentinels)
        return HostSpec(
            master_name=name, sentinels=addresses, sentinel_kwargs=sentinel_kwargs, kwargs=kwargs
        )
    address = kwargs.pop("address", None)
    if isinstance(address, str):
        return HostSpec(url=_url(address), kwargs=kwargs)
    if isinstance(address, (tuple, list)):
        return HostSpec(address=_address(address), kwargs=kwargs)
    raise ImproperlyConfigured("CONFIG['hosts'] dict entries need 'address' or 'master_name'")


def _url(value: str) -> str:
    if urlsplit(value).scheme not in _URL_SCHEMES:
        raise ImproperlyConfigured(f"CONFIG['hosts'] URL {value!r} must use one of {_URL_SCHEMES}")
    return value


def _address(value: Any) -> tuple[str, int]:
    ok = isinstance(value, (tuple, list)) and len(value) == 2
    if not ok or not isinstance(value[0], str) or not isinstance(value[1], int):
        raise ImproperlyConfigured(f"CONFIG['hosts'] address {value!r} must be (host, port)")
    return (value[0], value[1])
