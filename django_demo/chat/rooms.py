"""Room names, the Channels group behind each room, and the message shape every client sees."""

from __future__ import annotations

import os
from typing import Any

# Channels group names allow ASCII letters, digits, '-', '_' and '.' and fewer than 100
# characters; keeping room names inside that alphabet lets a room name be part of one.
ROOM_PATTERN = r"(?P<room>[A-Za-z0-9_.-]{1,50})"
MAX_MESSAGE_CHARS = 2000
MAX_AUTHOR_CHARS = 40
LAYER_HINT = "is redis-server running at DEMO_REDIS_URL? (or set DEMO_CHANNEL_LAYER=memory)"


def group_name(room: str) -> str:
    return f"chat.{room}"


def chat_event(*, room: str, message: str, author: str, source: str) -> dict[str, Any]:
    """The group message; ``type`` names the consumer method that handles it (chat_message)."""
    return {
        "type": "chat.message",
        "room": room,
        "message": message,
        "author": author,
        "source": source,
        "sent_by_pid": os.getpid(),
    }


def clean_message(value: object) -> str | None:
    """A message worth sending, or None: must be a non-blank string of sane length."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_MESSAGE_CHARS:
        return None
    return value


def clean_author(value: object, default: str = "anonymous") -> str:
    if not isinstance(value, str) or not value.strip():
        return default
    return value.strip()[:MAX_AUTHOR_CHARS]
