"""A bare relay on Kumppani's own stack: Starlette under uvicorn with ws="websockets-sansio".

Every text frame a connection sends to ``/room/{name}`` is forwarded, unchanged,
to every connection in that room (the sender included, as Kumppani echoes an
operation to its author too). Nothing else: no parsing, no storage, no
permissions. It shows what the web stack alone costs, so that the difference to
Kumppani is the cost of Kumppani's own pipeline.

Run: ``python -m bench.pyrelay --port 8766``
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

rooms: dict[str, set[WebSocket]] = defaultdict(set)


async def room(websocket: WebSocket) -> None:
    await websocket.accept()
    members = rooms[websocket.path_params["name"]]
    members.add(websocket)
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            if text is None:
                continue
            for peer in list(members):
                try:
                    await peer.send_text(text)
                except Exception:
                    members.discard(peer)
    finally:
        members.discard(websocket)


app = Starlette(routes=[WebSocketRoute("/room/{name}", room)])


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        ws_max_size=1 << 20,
        log_level="warning",
        lifespan="off",
    )


if __name__ == "__main__":
    main()
