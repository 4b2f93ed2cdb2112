"""Django app configuration for the chat rooms."""

from __future__ import annotations

from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Chat rooms"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chat import signals  # noqa: F401  (connects the post_save receiver)
