"""Request limits: bodies over the configured maximum (413) and requests handled at once."""

from __future__ import annotations

import json

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tinymlaas.errors import ServiceUnavailable


class BodyTooLarge(Exception):
    pass


class BodySizeLimitMiddleware:
    """Checks Content-Length up front and counts chunked bodies as they arrive."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send)
            return
        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not response_started:
                await self._reject(send)

    async def _reject(self, send: Send) -> None:
        detail = f"request body is larger than the limit of {self.max_bytes} bytes"
        await _send_json(send, 413, {"detail": detail}, close=True)


class InFlightLimitMiddleware:
    """At most `limit` requests of this process are being handled at once; the rest wait.

    A handler runs its dependencies and body in several thread hops and keeps its pooled
    database connection between them. When more requests were in flight than the pool has
    connections, the threads could all end up waiting for connections held by requests that
    were waiting for a thread: the server stopped answering until the pool timed out. With
    `limit` no larger than the pool, a request never waits for a connection; the others wait
    here, in the event loop, holding nothing, and get 503 after `timeout_seconds`. Fewer
    requests competing for the interpreter lock also answer sooner.

    A request counts from when its body has arrived (a slow upload holds no slot) until its
    response starts: the handler's session is committed by then, and a streamed body
    (downloads, event streams) runs outside the limit.
    """

    def __init__(
        self, app: ASGIApp, limit: int, timeout_seconds: float, exempt_paths: frozenset[str]
    ) -> None:
        self.app = app
        self.limit = limit
        self.timeout_seconds = timeout_seconds
        self.exempt_paths = exempt_paths
        self._slots: anyio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        if self._slots is None:  # created on first use, inside the server's event loop
            self._slots = anyio.Semaphore(self.limit)
        slot = _RequestSlot(self._slots, self.timeout_seconds, receive, send)
        try:
            if not _has_body(scope):
                try:
                    await slot.take()
                except ServiceUnavailable as exc:
                    await _send_json(send, 503, {"detail": exc.detail})
                    return
                await self.app(scope, receive, slot.send_and_give_back)
            else:
                await self.app(scope, slot.receive_then_take, slot.send_and_give_back)
        finally:
            slot.give_back()


def _has_body(scope: Scope) -> bool:
    headers = dict(scope["headers"])
    return b"transfer-encoding" in headers or headers.get(b"content-length") not in (None, b"0")


class _RequestSlot:
    """One request's hold on a slot: taken once its body has arrived, given back when its
    response starts (or when it ends without one)."""

    def __init__(
        self, slots: anyio.Semaphore, timeout_seconds: float, receive: Receive, send: Send
    ) -> None:
        self._slots = slots
        self._timeout_seconds = timeout_seconds
        self._receive = receive
        self._send = send
        self._holding = False
        self._response_started = False

    async def take(self) -> None:
        try:
            self._slots.acquire_nowait()  # a free slot: no timeout scope to set up
        except anyio.WouldBlock:
            await self._wait()
        self._holding = True

    async def _wait(self) -> None:
        try:
            with anyio.fail_after(self._timeout_seconds):
                await self._slots.acquire()
        except TimeoutError:
            raise ServiceUnavailable(
                f"the server is busy: no request slot was free within "
                f"{self._timeout_seconds:g} s; try again shortly"
            ) from None

    def give_back(self) -> None:
        if self._holding:
            self._holding = False
            self._slots.release()

    async def receive_then_take(self) -> Message:
        message = await self._receive()
        body_complete = message["type"] == "http.request" and not message.get("more_body")
        if body_complete and not self._holding and not self._response_started:
            await self.take()
        return message

    async def send_and_give_back(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._response_started = True
            self.give_back()
        await self._send(message)


async def _send_json(
    send: Send, status: int, content: dict[str, str], *, close: bool = False
) -> None:
    body = json.dumps(content).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:  # the rest of the body is not read: the connection cannot be reused
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
