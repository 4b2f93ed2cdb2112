"""Put a message into a room from ordinary sync Django code (views, commands, signals)."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from chat.history import save_message
from chat.rooms import chat_event, group_name


def post_message(*, room: str, message: str, author: str, source: str) -> dict[str, Any]:
    """Store the message, then send it to every member of the room, in every process.

    Raises ConnectionError when the channel layer cannot be reached. async_to_sync runs the
    coroutine on the server's event loop when called from a view's worker thread, and on a
    loop of its own in a management command.
    """
    event = chat_event(room=room, message=message, author=author, source=source)
    save_message(event)
    async_to_sync(get_channel_layer().group_send)(group_name(room), event)
    return event
