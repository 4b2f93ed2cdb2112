"""Twisted plumbing every wire shares: transport interface, writes, connection info, timers."""
