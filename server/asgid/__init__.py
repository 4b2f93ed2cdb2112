"""asgid: a Twisted-based ASGI server speaking HTTP/1.1, HTTP/2 and WebSockets."""

__version__ = "0.1.0"
