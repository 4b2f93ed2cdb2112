"""CONFIG decoding: every channels_redis key, errors that name the key."""

from __future__ import annotations

from typing import Any

import pytest
from asgid_layers import RedisChannelLayer
from asgid_layers.config import parse_config
from django.core.exceptions import ImproperlyConfigured
from hypothesis import given, strategies as st


def test_defaults_match_channels_redis() -> None:
    cfg = parse_config({})
    assert cfg.hosts[0].address == ("localhost", 6379)
    assert (cfg.prefix, cfg.expiry, cfg.group_expiry, cfg.capacity) == ("asgi", 60, 86400, 100)
    assert cfg.serializer_format == "msgpack" and cfg.random_prefix_length == 12


def test_every_host_form() -> None:
    cfg = parse_config(
        {
            "hosts": [
                "redis://h1:1/0",
                ("h2", 2),
                {"address": "rediss://h3:3", "ssl_cert_reqs": None},
                {"address": ("h4", 4), "password": "pw"},
                {
                    "master_name": "m",
                    "sentinels": [("s1", 26379)],
                    "sentinel_kwargs": {"password": "x"},
                    "db": 2,
                },
            ]
        }
    )
    assert [h.label for h in cfg.hosts] == [
        "redis://h1:1",
        "h2:2",
        "rediss://h3:3",
        "h4:4",
        "sentinel master 'm'",
    ]
    assert cfg.hosts[3].kwargs == {"password": "pw"}
    assert cfg.hosts[4].sentinels == (("s1", 26379),) and cfg.hosts[4].kwargs == {"db": 2}
    assert not cfg.cluster
    assert parse_config({"hosts": ["redis+cluster://c:7000"]}).cluster


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"capacty": 5}, "capacty"),
        ({"capacity": "5"}, "capacity"),
        ({"capacity": 0}, "capacity"),
        ({"expiry": -1}, "expiry"),
        ({"group_expiry": True}, "group_expiry"),
        ({"prefix": ""}, "prefix"),
        ({"channel_capacity": {"a*": "x"}}, "channel_capacity"),
        ({"symmetric_encryption_keys": "single-string"}, "symmetric_encryption_keys"),
        ({"serializer_format": "pickle"}, "serializer_format"),
        ({"hosts": "redis://not-a-list"}, "hosts"),
        ({"hosts": [("h", "port")]}, "hosts"),
        ({"hosts": ["http://x"]}, "hosts"),
        ({"hosts": [{"sentinels": []}]}, "hosts"),
        ({"cluster": "yes"}, "cluster"),
    ],
)
def test_bad_options_name_the_key(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=named):
        RedisChannelLayer(**options)


@given(st.dictionaries(st.text(min_size=1, max_size=12), st.integers(), max_size=3))
def test_unknown_keys_always_rejected(options: dict[str, int]) -> None:
    known = {"expiry", "group_expiry", "capacity", "random_prefix_length", "cluster_shards"}
    unknown = [k for k in options if k not in known and k not in parse_config({}).__dict__]
    if not unknown:
        return
    with pytest.raises(ImproperlyConfigured, match="unknown CONFIG key"):
        parse_config(options)
