"""The chat consumer: one instance per WebSocket, joined to its room's group while connected."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer

from chat.rooms import LAYER_HINT, chat_event, clean_author, clean_message, group_name

logger = logging.getLogger(__name__)


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.room: str = self.scope["url_route"]["kwargs"]["room"]
        self.group = group_name(self.room)
        # Join before accepting, so a client that saw the handshake succeed is already
        # in the group and cannot miss a message sent right after it connected.
        try:
            await self.channel_layer.group_add(self.group, self.channel_name)
        except ConnectionError as exc:
            # Refusing the handshake beats accepting a socket that can never chat.
            logger.error("cannot join room %s: %s; %s", self.room, exc, LAYER_HINT)
            await self.close()
            return
        await self.accept()
        await self._send_json({"type": "welcome", "room": self.room, "server_pid": os.getpid()})
        logger.info("joined room %s as %s", self.room, self.channel_name)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            payload = json.loads(text_data or "")
        except ValueError:
            payload = None
        message = clean_message(payload.get("message") if isinstance(payload, dict) else None)
        if message is None:
            await self._send_json(
                {"type": "error", "error": 'send JSON like {"message": "hi", "author": "ann"}'}
            )
            return
        event = chat_event(
            room=self.room, message=message, author=self._author(payload), source="websocket"
        )
        await self.channel_layer.group_send(self.group, event)

    async def chat_message(self, event: dict[str, Any]) -> None:
        """Handler for ``chat.message`` group events, whoever sent them."""
        await self._send_json(
            {
                "type": "message",
                "room": event["room"],
                "message": event["message"],
                "author": event["author"],
                "source": event["source"],
                "sent_by_pid": event["sent_by_pid"],
                "delivered_by_pid": os.getpid(),
            }
        )

    def _author(self, payload: dict[str, Any]) -> str:
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            return str(user.get_username())
        return clean_author(payload.get("author"))

    async def _send_json(self, data: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(data))
