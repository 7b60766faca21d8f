"""``Router``: the API's routers. A read documented by ``responses=`` alone (``response_model=None``)
returns a dict that FastAPI would walk with ``jsonable_encoder`` and then dump with ``json``;
here orjson writes it in one pass, in the route's worker thread. Types orjson does not know go
through ``jsonable_encoder`` as before."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.encoders import jsonable_encoder
from starlette.responses import Response


def json_bytes(content: Any) -> bytes:
    """``content`` as the JSON ``JSONResponse`` would answer (non-string keys as strings)."""
    return orjson.dumps(content, default=jsonable_encoder, option=orjson.OPT_NON_STR_KEYS)


def _answering(endpoint: Callable[..., Any], status_code: int) -> Callable[..., Any]:
    """A plain-function route whose dict or list answer is written here; a ``Response`` it
    returns is answered as it is. FastAPI reads the route's signature through ``__wrapped__``."""

    @functools.wraps(endpoint)
    def answered(*args: Any, **kwargs: Any) -> Any:
        found = endpoint(*args, **kwargs)
        if isinstance(found, Response):
            return found
        return Response(json_bytes(found), status_code, media_type="application/json")

    return answered


class Router(APIRouter):
    def add_api_route(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        if options.get("response_model", ...) is None and not inspect.iscoroutinefunction(endpoint):
            endpoint = _answering(endpoint, options.get("status_code") or 200)
        super().add_api_route(path, endpoint, **options)
