"""An app that uses asgid_layers through Django Channels, for the asgid_layer_* metrics."""

from __future__ import annotations

import os

from django.conf import settings

if not settings.configured:
    settings.configure(
        CHANNEL_LAYERS={
            "default": {
                "BACKEND": "asgid_layers.RedisChannelLayer",
                "CONFIG": {"hosts": [os.environ["LAYER_REDIS_URL"]]},
            }
        }
    )

from channels.layers import get_channel_layer  # noqa: E402 - needs the settings above


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "hello"})
    await layer.receive(channel)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"sent and received"})
