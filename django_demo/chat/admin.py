"""Admin pages: saving an Announcement here broadcasts it to its room (chat/signals.py)."""

from __future__ import annotations

from django.contrib import admin

from chat.models import Announcement, Message


@admin.register(Announcement)
class AnnouncementAdmin(admin.ModelAdmin):
    list_display = ("room", "text", "created")


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("room", "author", "text", "source", "created")
    list_filter = ("room", "source")
