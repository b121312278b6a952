"""ASGI middleware that refuses request bodies over a size limit with 413, before they are read."""

from __future__ import annotations

from collections.abc import Callable

from server.errors import error_response, oip_body


class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """`limit_for(path)` gives the byte limit of a request path."""

    def __init__(self, app, limit_for: Callable[[str], int]):
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await self._reject(scope, receive, send, limit)
        received = 0
        started = False

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(scope, receive, send, limit)

    @staticmethod
    async def _reject(scope, receive, send, limit: int):
        response = error_response(413, "payload_too_large", f"request body exceeds the limit of {limit} bytes",
                                  path=scope["path"], special=oip_body)
        await response(scope, receive, send)
