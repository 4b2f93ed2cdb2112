"""Django management commands of the ``asgid`` app."""
