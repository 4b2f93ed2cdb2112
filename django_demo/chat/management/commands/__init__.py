"""``announce``."""
