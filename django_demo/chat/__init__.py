"""Chat rooms: a WebSocket consumer per client, a Channels group per room."""
