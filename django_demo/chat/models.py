"""What the demo keeps in the database: each room's recent messages, and announcements."""

from __future__ import annotations

from django.db import models

HISTORY_LENGTH = 50  # messages kept per room and shown when a page opens


class Message(models.Model):
    room = models.CharField(max_length=50, db_index=True)
    author = models.CharField(max_length=40)
    text = models.TextField()
    source = models.CharField(max_length=20)  # websocket, http, command, signal
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"#{self.room} {self.author}: {self.text[:40]}"


class Announcement(models.Model):
    """Saving one (in the admin, a shell, a task) broadcasts it: see chat/signals.py."""

    room = models.CharField(max_length=50)
    text = models.TextField()
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"#{self.room}: {self.text[:40]}"
