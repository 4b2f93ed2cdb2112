"""Keep each room's last messages in the database and read them back for a new page."""

from __future__ import annotations

from typing import Any

from chat.models import HISTORY_LENGTH, Message


def save_message(event: dict[str, Any]) -> None:
    """Store one chat event and forget what falls out of the room's last HISTORY_LENGTH."""
    Message.objects.create(
        room=event["room"], author=event["author"], text=event["message"], source=event["source"]
    )
    stale = Message.objects.filter(room=event["room"]).order_by("-id")[HISTORY_LENGTH:]
    Message.objects.filter(id__in=list(stale.values_list("id", flat=True))).delete()


def recent_messages(room: str) -> list[dict[str, str]]:
    """The room's last messages, oldest first, shaped like the live ones the page shows."""
    newest = Message.objects.filter(room=room).order_by("-id")[:HISTORY_LENGTH]
    return [
        {
            "author": m.author,
            "message": m.text,
            "source": m.source,
            "created": m.created.isoformat(),
        }
        for m in reversed(newest)
    ]
