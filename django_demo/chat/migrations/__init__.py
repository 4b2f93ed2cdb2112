"""Schema of the chat app."""
