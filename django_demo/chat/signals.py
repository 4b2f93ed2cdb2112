"""A saved Announcement reaches its room: a post_save receiver broadcasts it."""

from __future__ import annotations

import logging
from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from chat.broadcast import post_message
from chat.models import Announcement
from chat.rooms import LAYER_HINT

logger = logging.getLogger(__name__)


@receiver(post_save, sender=Announcement, dispatch_uid="chat.announce_on_save")
def announce_on_save(sender: type[Announcement], instance: Announcement, created: bool,
                     **kwargs: Any) -> None:  # fmt: skip
    if not created:
        return
    try:
        post_message(room=instance.room, message=instance.text, author="announcement",
                     source="signal")  # fmt: skip
    except ConnectionError as exc:
        # The row is saved either way; only the live delivery is lost.
        logger.error("announcement for room %s not delivered: %s; %s", instance.room, exc,
                     LAYER_HINT)  # fmt: skip
