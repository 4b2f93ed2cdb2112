"""HTTP routes of the chat app: room list, room pages, broadcast, server info, icon."""

from __future__ import annotations

from django.urls import path, re_path

from chat import views
from chat.rooms import ROOM_PATTERN

urlpatterns = [
    path("", views.index, name="index"),
    re_path(rf"^chat/{ROOM_PATTERN}/$", views.room, name="room"),
    re_path(rf"^broadcast/{ROOM_PATTERN}/$", views.broadcast, name="broadcast"),
    path("info/", views.server_info, name="server-info"),
    path("favicon.svg", views.icon, name="icon"),
    path("favicon.ico", views.icon),
]
