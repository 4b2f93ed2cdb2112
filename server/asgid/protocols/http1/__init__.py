"""HTTP/1.1 over httptools: protocol, exchange, error answers."""
