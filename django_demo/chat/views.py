"""Ordinary synchronous Django views: Django runs them in a worker thread under ASGI."""

from __future__ import annotations

import json
import logging
import os
import platform
import socket
import sys
import threading

import channels
import django
from channels.layers import get_channel_layer
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from chat.broadcast import post_message
from chat.rooms import LAYER_HINT, clean_author, clean_message

logger = logging.getLogger(__name__)

SUGGESTED_ROOMS = ("lobby", "python", "twisted")

# A speech bubble. Pages link it; browsers still ask for /favicon.ico on pages that do not
# (the admin, the JSON of /info/), and log a 404 in the console if nothing answers there.
ICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    '<rect width="16" height="12" rx="3" fill="#246"/><path d="M4 12v4l4-4z" fill="#246"/></svg>'
)


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    room = request.GET.get("room", "").strip()
    if room:
        return HttpResponseRedirect(reverse("room", kwargs={"room": room}))
    return render(request, "chat/index.html", {"rooms": SUGGESTED_ROOMS, "pid": os.getpid()})


@require_GET
def room(request: HttpRequest, room: str) -> HttpResponse:
    return render(request, "chat/room.html", {"room": room, "pid": os.getpid()})


# Exempt so that `curl -d message=hi` works without a CSRF token; a real application
# would authenticate this endpoint instead.
@csrf_exempt
@require_POST
def broadcast(request: HttpRequest, room: str) -> HttpResponse:
    """Send a message into a room from plain sync code, as any Django view or task could."""
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body)
        except ValueError:
            data = None
        data = data if isinstance(data, dict) else {}
    else:
        data = request.POST
    message = clean_message(data.get("message"))
    if message is None:
        return JsonResponse({"error": "a non-empty 'message' is required"}, status=400)
    author = clean_author(data.get("author"), default="http")
    try:
        post_message(room=room, message=message, author=author, source="http")
    except ConnectionError as exc:
        logger.error("cannot broadcast to room %s: %s; %s", room, exc, LAYER_HINT)
        return JsonResponse({"error": f"channel layer unavailable: {LAYER_HINT}"}, status=503)
    return JsonResponse({"room": room, "message": message, "sent_by_pid": os.getpid()})


@require_GET
def icon(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(ICON_SVG, content_type="image/svg+xml")
    response["Cache-Control"] = "max-age=86400"
    return response


@require_GET
def server_info(request: HttpRequest) -> HttpResponse:
    scope = getattr(request, "scope", {})
    layer = get_channel_layer()
    return JsonResponse(
        {
            "asgi": scope.get("asgi", {}),
            "http_version": scope.get("http_version"),
            "scheme": request.scheme,
            "client": scope.get("client"),
            "server": scope.get("server"),
            "pid": os.getpid(),
            "hostname": socket.gethostname(),
            "thread": threading.current_thread().name,
            "python": sys.version.split()[0],
            "implementation": platform.python_implementation(),
            "django": django.get_version(),
            "channels": channels.__version__,
            "channel_layer": f"{type(layer).__module__}.{type(layer).__qualname__}",
        },
        json_dumps_params={"indent": 2},
    )
