"""The request-size limit, counted as the bytes arrive.

A ``Content-Length`` over the limit is refused before anything is read; a body without one
(chunked transfer) or longer than it claims is counted message by message as the application
reads it, and the read that passes the limit raises ``BodyTooLarge`` instead of returning
more: nothing past the limit is ever buffered. Either way the answer is 413 problem+json
naming the field ``body`` and the rule ``max_body_bytes``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.http import problems


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` past the limit; an HTTPException so that FastAPI's body parsing
    passes it on unchanged (it turns other errors into 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body must be at most {limit} bytes")
        self.limit = limit


def too_large(limit: int, path: str) -> Any:
    return problems.problem(
        413,
        "Request body too large",
        f"the body must be at most {limit} bytes",
        instance=path,
        errors=[{"field": "body", "rule": "max_body_bytes", "detail": f"at most {limit} bytes"}],
    )


class BodyLimit:
    """ASGI middleware: refuse or stop a request body past ``limit_for(path)`` bytes."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await too_large(limit, scope["path"])(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await too_large(limit, scope["path"])(scope, receive, send)
