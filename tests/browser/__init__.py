"""Tests that drive a real browser (Debian's chromium through Playwright)."""
