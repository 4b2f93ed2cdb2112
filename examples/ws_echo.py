"""A raw ASGI WebSocket echo server (also what the WebSocket benchmark serves).

asgid -e tcp:8000 examples.ws_echo:app
python -m websockets ws://127.0.0.1:8000/
"""


async def app(scope, receive, send):
    if scope["type"] != "websocket":
        return
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif message["type"] == "websocket.receive":
            if message.get("bytes") is not None:
                await send({"type": "websocket.send", "bytes": message["bytes"]})
            else:
                await send({"type": "websocket.send", "text": message["text"]})
        else:  # websocket.disconnect
            return
