"""HTTP routes of the demo; WebSocket routes live in chat/routing.py."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [path("", include("chat.urls"))]
