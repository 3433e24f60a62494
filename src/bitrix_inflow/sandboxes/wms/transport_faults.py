"""Transport-level faults in front of the API: latency, 5xx, hangs, TCP resets, 429 bursts.

Pure ASGI and outermost, so that a reset can reach the connection's transport (uvicorn's ``send`` is bound to
the request cycle that owns it).
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bitrix_inflow.sandboxes.wms.faults import Faults
from bitrix_inflow.sandboxes.wms.problems import Problem


class TransportFaults:
    def __init__(
        self,
        app: ASGIApp,
        faults: Faults,
        prefixes: tuple[str, ...],
        render: Callable[[str, Problem], ASGIApp],
    ) -> None:
        self.app = app
        self.faults = faults
        self.prefixes = prefixes
        self.render = render  # a problem as the front end at that path speaks it (problem+json or SOAP fault)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        settings = self.faults.settings
        client = scope.get("client") or ("", 0)
        if self.faults.take_429(str(client[0])):
            retry_after = str(settings.retry_after)
            problem = Problem(
                "rate-limited",
                f"rate limit exceeded; retry after {retry_after} s",
                headers={"Retry-After": retry_after},
            )
            await self.render(scope["path"], problem)(scope, receive, send)
            return
        if self.faults.chance(settings.reset_rate, "reset") and _reset(send):
            # Let the server notice the lost connection, then "answer" into the void so that it does not
            # report an application that returned without a response.
            await asyncio.sleep(0.01)
            await self.render(scope["path"], Problem("unavailable", "connection reset"))(scope, receive, send)
            return
        if self.faults.chance(settings.hang_rate, "hang"):
            # The request still takes effect afterwards, as on a real server whose client gave up waiting;
            # read the body first so that it survives the client hanging up.
            receive = await _buffered(receive)
            await asyncio.sleep(settings.hang_seconds)
        elif self.faults.chance(settings.error_rate, "5xx"):
            problem = Problem("unavailable", "injected fault: the WMS is temporarily unavailable")
            await self.render(scope["path"], problem)(scope, receive, send)
            return
        if settings.latency_ms:
            await asyncio.sleep(settings.latency_ms / 1000)
        await self.app(scope, receive, send)


async def _buffered(receive: Receive) -> Receive:
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return replay


def _reset(send: Send) -> bool:
    """Abort the TCP connection with RST (SO_LINGER 0); False when the transport is out of reach."""
    transport: Any = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        return False
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    return True
