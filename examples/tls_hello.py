"""Hello over TLS, saying which HTTP version, TLS details and client certificate came along.

asgid-certs certs/
asgid -p 8443 --ssl-certfile certs/cert.pem --ssl-keyfile certs/key.pem examples.tls_hello:app
curl --cacert certs/cert.pem https://localhost:8443/        # HTTP/2 via ALPN
curl --http1.1 --cacert certs/cert.pem https://localhost:8443/

A WebSocket (wss://localhost:8443/ws) gets the same line as one text message, then a close.
With client certificates (mutual TLS), see docs/tls.md.
"""


def describe(scope):
    tls = scope["extensions"].get("tls")
    if tls is None:
        return "no TLS on this connection"
    version = {0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}.get(tls["tls_version"], "TLS")
    detail = f"{version}, cipher suite 0x{tls['cipher_suite'] or 0:04x}"
    if tls["client_cert_name"]:
        detail += f", client {tls['client_cert_name']}"
    return detail


async def app(scope, receive, send):
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": f"Hello over WebSocket ({describe(scope)})"})
        await send({"type": "websocket.close"})
        return
    if scope["type"] != "http":
        return
    body = f"Hello over HTTP/{scope['http_version']} ({describe(scope)})\n".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": body})
