"""ASGI middleware: what a request body may cost the server, before and while it arrives.

Invariants:
- Nothing is committed to a body before its bytes arrive: a declared Content-Length above the
  path's limit is refused at once (413), any other is only a promise; what counts is what came.
- A body is bounded in size (413 past its path's limit), in time (408 when its client leaves it
  unfinished `timeout_s` without sending, or averages under `min_rate` bytes per second after
  the first `timeout_s`), and, all bodies together, in bytes held (503 past the pool). A client
  that announces a body and sends nothing costs a coroutine and its socket, no memory, and holds
  nothing an honest client waits for; it is dropped after `timeout_s`.
- A body's bytes count against the pool from their arrival until its request is answered.
- Every refusal closes the connection (its body may still be on the way) and changes nothing. A
  client that leaves before its body is complete gets no answer and leaves no error behind.

The application may turn a failed read into its own answer (FastAPI makes it a 400 while parsing
a form); that answer is dropped and the guard's refusal sent instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from server.errors import ApiError, error_response, oip_body


@dataclass(frozen=True)
class BodyPolicy:
    limit: int  # largest body, bytes
    pooled: bool  # counts against the pool (the operator's authenticated uploads do not)


class BytePool:
    """Bytes of request bodies held at once; used on the event loop only (no lock needed)."""

    def __init__(self, capacity: int):
        self.capacity, self.held = capacity, 0

    def take(self, n: int) -> bool:
        if self.held + n > self.capacity:
            return False
        self.held += n
        return True

    def give(self, n: int) -> None:
        self.held -= n


class BodyRefused(Exception):
    def __init__(self, error: ApiError):
        super().__init__(error.detail)
        self.error = error


def _refusal(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> ApiError:
    return ApiError(status, error, detail, {**(headers or {}), "Connection": "close"})


def too_large(limit: int) -> ApiError:
    return _refusal(413, "payload_too_large", f"request body exceeds the limit of {limit} bytes")


def _declared_length(scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None  # bytes.isdigit: ASCII digits only
    return None


class BodyGuard:
    """`policy(scope)`: the limit of a request's body and whether it counts against the pool."""

    def __init__(self, app, policy: Callable[[dict], BodyPolicy], pool_bytes: int, timeout_s: float, min_rate: int):
        self.app, self.policy = app, policy
        self.pool = BytePool(pool_bytes)
        self.timeout_s, self.min_rate = timeout_s, min_rate

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        policy = self.policy(scope)
        declared = _declared_length(scope)
        if declared is not None and declared > policy.limit:
            return await self._answer(scope, receive, send, too_large(policy.limit))
        loop = asyncio.get_running_loop()
        start = last = loop.time()
        received = held = 0
        complete = started = gone = False
        refused: ApiError | None = None

        def refuse(error: ApiError) -> BodyRefused:
            nonlocal refused
            refused = error
            return BodyRefused(error)

        async def guarded_receive():
            nonlocal received, held, complete, last, gone
            if refused is not None:
                raise BodyRefused(refused)
            if complete:  # after the body: a disconnect, whenever it comes
                return await receive()
            wait = min(last + self.timeout_s, start + self.timeout_s + received / self.min_rate) - loop.time()
            try:
                message = await asyncio.wait_for(receive(), max(wait, 0.0))
            except TimeoutError:
                raise refuse(_refusal(408, "request_timeout", f"the request body did not arrive in time: "
                                                              f"{received} bytes came")) from None
            if message["type"] != "http.request":  # the client left before its body was complete
                gone = True
                return message
            size = len(message.get("body", b""))
            received += size
            last = loop.time()
            if received > policy.limit:
                raise refuse(too_large(policy.limit))
            if policy.pooled and size:
                if not self.pool.take(size):
                    raise refuse(_refusal(503, "server_busy", "the server is receiving as many request bytes as "
                                                              "it may hold; retry", {"Retry-After": "1"}))
                held += size
            complete = not message.get("more_body", False)
            return message

        async def guarded_send(message):
            nonlocal started
            if refused is not None and not started:
                return  # the application's own answer to the failed read: the guard answers instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception:
            if refused is None and not gone:
                raise
            # the failed read, surfacing through the application: answered below; or no one to answer
        finally:
            self.pool.give(held)
        if refused is not None and not started and not gone:
            await self._answer(scope, receive, send, refused)

    @staticmethod
    async def _answer(scope, receive, send, error: ApiError):
        response = error_response(error.status, error.error, error.detail, error.headers, path=scope["path"],
                                  special=oip_body)
        await response(scope, receive, send)
