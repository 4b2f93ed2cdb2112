"""The transport interface the wire protocols rely on; imported for type checking only."""

from __future__ import annotations

from twisted.internet.interfaces import IConsumer, IPushProducer, ITCPTransport


class Transport(ITCPTransport, IConsumer, IPushProducer):
    """What a TCP/TLS/unix transport offers: write, flow control both ways, abort."""
