"""``runserver`` through asgid."""
