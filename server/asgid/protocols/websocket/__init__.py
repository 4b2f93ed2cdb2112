"""WebSocket over Autobahn: connection speaking ASGI websocket.*, handshake checks, options."""
