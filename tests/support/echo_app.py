"""A tiny ASGI app standing in for the board when the server runner is tested.

``GET /`` answers ``{"ok": true, "pid": ...}``; ``GET /slow?seconds=S`` answers after S seconds
(a request in flight when the server is killed); anything else is a 404. Plain ASGI, no framework:
``python -m uvicorn tests.support.echo_app:app --port P``.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI entry point."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/":
        await _json(send, 200, {"ok": True, "pid": os.getpid()})
    elif path == "/slow":
        query = parse_qs(scope.get("query_string", b"").decode())
        await asyncio.sleep(float(query.get("seconds", ["1"])[0]))
        await _json(send, 200, {"ok": True, "slow": True})
    else:
        await _json(send, 404, {"ok": False, "path": path})


async def _json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})
