"""Private network namespaces for the partition test: one "redis" host, two layer hosts.

Only addresses of 10.231.0.0/16 on veth pairs created here, inside namespaces
created here; nothing touches the root namespace's interfaces.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field


class NamespacesUnavailable(RuntimeError):
    """This machine cannot create network namespaces (not root, no ip tool, ...)."""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@dataclass
class Topology:
    """Namespace ``redis`` holds a bridge with 10.231.0.1/24; each host namespace
    ``hosts[i]`` joins it through its own veth pair with 10.231.0.<i+2>/24. All
    hosts reach Redis at the same address: the layer derives its shard tags from
    the host's URL, so every process must name Redis the same way."""

    tag: str = field(default_factory=lambda: str(os.getpid() % 100_000))
    hosts: tuple[str, ...] = ("a", "b")
    created: list[str] = field(default_factory=list)

    @property
    def redis_ns(self) -> str:
        return f"asgid-r{self.tag}"

    def host_ns(self, i: int) -> str:
        return f"asgid-{self.hosts[i]}{self.tag}"

    def host_link(self, i: int) -> str:
        return f"h{i}x{self.tag}"

    redis_address = "10.231.0.1"

    def create(self) -> None:
        if shutil.which("ip") is None:
            raise NamespacesUnavailable("the ip tool (iproute2) is not installed")
        try:
            for ns in (self.redis_ns, *(self.host_ns(i) for i in range(len(self.hosts)))):
                _ip("netns", "add", ns)
                self.created.append(ns)
                _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", self.redis_ns, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.redis_ns, "addr", "add", f"{self.redis_address}/24", "dev", "br0")
            _ip("-n", self.redis_ns, "link", "set", "br0", "up")
            for i in range(len(self.hosts)):
                self._connect(i)
        except subprocess.CalledProcessError as exc:
            self.destroy()
            message = exc.stderr.decode(errors="replace").strip()
            raise NamespacesUnavailable(f"{' '.join(exc.cmd)}: {message}") from exc

    def _connect(self, i: int) -> None:
        redis_end, host_end = f"r{i}x{self.tag}", self.host_link(i)
        _ip("link", "add", redis_end, "netns", self.redis_ns, "type", "veth", "peer", "name",
            host_end, "netns", self.host_ns(i))  # fmt: skip
        _ip("-n", self.redis_ns, "link", "set", redis_end, "master", "br0")
        _ip("-n", self.host_ns(i), "addr", "add", f"10.231.0.{i + 2}/24", "dev", host_end)
        _ip("-n", self.redis_ns, "link", "set", redis_end, "up")
        _ip("-n", self.host_ns(i), "link", "set", host_end, "up")

    def set_link(self, i: int, up: bool) -> None:
        """Cut (or restore) host ``i``'s only link, to Redis, from its side."""
        _ip("-n", self.host_ns(i), "link", "set", self.host_link(i), "up" if up else "down")

    def exec_prefix(self, ns: str) -> list[str]:
        return ["ip", "netns", "exec", ns]

    def destroy(self) -> None:
        """Delete our namespaces; their veths and any process-less state go with them."""
        for ns in reversed(self.created):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        self.created.clear()
