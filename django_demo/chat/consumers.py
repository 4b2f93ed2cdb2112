"""The chat consumer: one instance per WebSocket, joined to its room's group while connected.

Presence works through the channel layer alone, so it spans every server process: a
newcomer announces itself to the group (``presence.join``), every member answers it
directly on its own channel (``presence.here``), and a leaver says goodbye
(``presence.leave``). Each page keeps its member list from those three events.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from chat.history import recent_messages, save_message
from chat.rooms import LAYER_HINT, chat_event, clean_author, clean_message, group_name

logger = logging.getLogger(__name__)


class ChatConsumer(AsyncWebsocketConsumer):
    joined = False

    async def connect(self) -> None:
        self.room: str = self.scope["url_route"]["kwargs"]["room"]
        self.group = group_name(self.room)
        self.name = self._name()
        # Join before accepting, so a client that saw the handshake succeed is already
        # in the group and cannot miss a message sent right after it connected.
        try:
            await self.channel_layer.group_add(self.group, self.channel_name)
        except ConnectionError as exc:
            # Refusing the handshake beats accepting a socket that can never chat.
            logger.error("cannot join room %s: %s; %s", self.room, exc, LAYER_HINT)
            await self.close()
            return
        self.joined = True
        await self.accept()
        history = await database_sync_to_async(recent_messages)(self.room)
        await self._send_json(
            {
                "type": "welcome",
                "room": self.room,
                "server_pid": os.getpid(),
                "id": self.channel_name,
                "name": self.name,
                "history": history,
            }
        )
        await self._to_group("presence.join")
        logger.info("%s joined room %s as %s", self.name, self.room, self.channel_name)

    async def disconnect(self, code: int) -> None:
        if not self.joined:
            return
        await self.channel_layer.group_discard(self.group, self.channel_name)
        try:
            await self._to_group("presence.leave")
        except ConnectionError as exc:
            logger.warning("leave of %s not announced: %s", self.name, exc)

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
        await database_sync_to_async(save_message)(event)
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

    async def presence_join(self, event: dict[str, Any]) -> None:
        await self._send_json({"type": "join", "id": event["channel"], "name": event["name"]})
        if event["channel"] != self.channel_name:
            reply = {"type": "presence.here", "channel": self.channel_name, "name": self.name}
            await self.channel_layer.send(event["channel"], reply)

    async def presence_here(self, event: dict[str, Any]) -> None:
        await self._send_json({"type": "here", "id": event["channel"], "name": event["name"]})

    async def presence_leave(self, event: dict[str, Any]) -> None:
        await self._send_json({"type": "leave", "id": event["channel"], "name": event["name"]})

    async def _to_group(self, kind: str) -> None:
        await self.channel_layer.group_send(
            self.group, {"type": kind, "channel": self.channel_name, "name": self.name}
        )

    def _name(self) -> str:
        """The logged-in user's name, else the ``?name=`` the page connected with."""
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            return str(user.get_username())
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        return clean_author(query.get("name", [""])[0])

    def _author(self, payload: dict[str, Any]) -> str:
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            return str(user.get_username())
        return clean_author(payload.get("author"), default=self.name)

    async def _send_json(self, data: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(data))
