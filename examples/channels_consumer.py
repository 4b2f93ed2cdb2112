"""Django Channels consumers served by asgid, in one file (in-memory channel layer).

    asgid examples.channels_consumer:application
    python -m websockets ws://127.0.0.1:8000/ws/echo/
    python -m websockets ws://127.0.0.1:8000/ws/chat/lobby/   (open two; type in one)

For several processes use a shared layer instead, e.g. ``asgid_layers.RedisChannelLayer``.
A real project keeps the settings in its settings module; they are inline here only so
the example is a single file.
"""

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="example-only-not-secret",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["channels"],
        CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
    )
    django.setup()

from channels.generic.websocket import (  # noqa: E402
    AsyncJsonWebsocketConsumer,
    AsyncWebsocketConsumer,
)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.urls import path  # noqa: E402

urlpatterns: list = []  # plain Django views would go here


class EchoConsumer(AsyncWebsocketConsumer):
    """Send every message back; refuse clients that ask for an unknown subprotocol."""

    async def connect(self):
        offered = self.scope["subprotocols"]
        if offered and "echo" not in offered:
            await self.close()  # before accept: the handshake is refused with 403
            return
        await self.accept("echo" if offered else None)

    async def receive(self, text_data=None, bytes_data=None):
        await self.send(text_data=text_data, bytes_data=bytes_data)


class ChatConsumer(AsyncJsonWebsocketConsumer):
    """Everyone in a room receives what anyone in it says."""

    async def connect(self):
        self.room = "chat-" + self.scope["url_route"]["kwargs"]["room"]
        await self.channel_layer.group_add(self.room, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.room, self.channel_name)

    async def receive_json(self, content, **kwargs):
        await self.channel_layer.group_send(
            self.room, {"type": "chat.message", "text": str(content.get("text", ""))}
        )

    async def chat_message(self, event):
        await self.send_json({"text": event["text"]})


application = ProtocolTypeRouter(
    {
        "http": get_asgi_application(),
        "websocket": URLRouter(
            [
                path("ws/echo/", EchoConsumer.as_asgi()),
                path("ws/chat/<str:room>/", ChatConsumer.as_asgi()),
            ]
        ),
    }
)
