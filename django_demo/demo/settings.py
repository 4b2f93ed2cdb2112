"""Settings of the asgid demo; everything a user may want to change comes from DEMO_* variables.

DEMO_DEBUG            1 (default) or 0
DEMO_SECRET_KEY       secret key (default: an insecure key, fine for local use only)
DEMO_ALLOWED_HOSTS    comma-separated host names (default localhost,127.0.0.1,[::1])
DEMO_DB_PATH          sqlite file (default django_demo/db.sqlite3)
DEMO_CHANNEL_LAYER    redis (default) or memory (one process only, no Redis needed)
DEMO_REDIS_URL        Redis for the channel layer (default redis://127.0.0.1:6379/0)
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _flag(name: str, default: str) -> bool:
    return os.environ.get(name, default).strip().lower() in ("1", "true", "yes", "on")


def _channel_layer(kind: str) -> dict[str, object]:
    if kind == "memory":
        # Groups live inside one process: enough for one asgid, useless across two.
        return {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    if kind == "redis":
        url = os.environ.get("DEMO_REDIS_URL", "redis://127.0.0.1:6379/0")
        return {"BACKEND": "asgid_layers.RedisChannelLayer", "CONFIG": {"hosts": [url]}}
    raise ValueError(f"DEMO_CHANNEL_LAYER must be 'redis' or 'memory', not {kind!r}")


DEBUG = _flag("DEMO_DEBUG", "1")
SECRET_KEY = os.environ.get(
    "DEMO_SECRET_KEY", "django-insecure-asgid-demo-only-never-use-this-key-in-production"
)
ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get("DEMO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
    if host.strip()
]

INSTALLED_APPS = [
    "asgid",  # manage.py runserver serves through asgid (before staticfiles)
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "chat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo.urls"
ASGI_APPLICATION = "demo.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DEMO_DB_PATH", str(BASE_DIR / "db.sqlite3")),
    }
}

# Only the admin has static files; demo/asgi.py serves them itself when DEBUG is on.
STATIC_URL = "static/"

CHANNEL_LAYERS = {"default": _channel_layer(os.environ.get("DEMO_CHANNEL_LAYER", "redis"))}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # No handlers of our own: records propagate to the root logger, which asgid configures,
    # so each line is printed once, in asgid's format.
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "chat": {"handlers": [], "level": "INFO", "propagate": True},
    },
}
