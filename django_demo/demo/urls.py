"""HTTP routes of the demo; WebSocket routes live in chat/routing.py."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    # Log in here (after `manage.py createsuperuser`) and the chat shows your user name:
    # the WebSocket consumer reads the same session through AuthMiddlewareStack.
    path("admin/", admin.site.urls),
    path("", include("chat.urls")),
]
