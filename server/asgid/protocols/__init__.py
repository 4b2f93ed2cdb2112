"""Wire protocols: bytes on a Twisted transport to neutral events and back, per HTTP version."""
