"""``manage.py announce <room> <text>``: broadcast into a room from the command line."""

from __future__ import annotations

import re
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.broadcast import post_message
from chat.rooms import LAYER_HINT, ROOM_PATTERN, clean_author, clean_message


class Command(BaseCommand):
    help = "Send a message to everyone in a chat room, whichever server process they use."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("room", help="room name: letters, digits, - _ . (at most 50)")
        parser.add_argument("text", help="the message")
        parser.add_argument("--author", default="manage.py", help="shown as the sender")

    def handle(self, *args: Any, **options: Any) -> None:
        room = options["room"]
        if not re.fullmatch(ROOM_PATTERN, room):
            raise CommandError(f"{room!r} is not a room name: use letters, digits, - _ .")
        message = clean_message(options["text"])
        if message is None:
            raise CommandError("the message must be non-blank and at most 2000 characters")
        try:
            post_message(room=room, message=message, author=clean_author(options["author"]),
                         source="command")  # fmt: skip
        except ConnectionError as exc:
            raise CommandError(f"channel layer unavailable ({exc}): {LAYER_HINT}") from exc
        if isinstance(get_channel_layer(), InMemoryChannelLayer):
            # That layer lives inside one process: this command's copy reaches no server.
            self.stderr.write(f"stored in #{room}'s history only: the in-memory channel layer "
                              "cannot reach a running server (use the Redis layer)")  # fmt: skip
            return
        self.stdout.write(f"sent to #{room}")
