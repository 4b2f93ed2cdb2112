"""The version-neutral ASGI side: scopes, per-request/WebSocket cycles, app instances."""
