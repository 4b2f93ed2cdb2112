"""Django project package of the asgid demo: settings, URLs and the ASGI entry point."""
