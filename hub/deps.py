"""Dependencies the routers share: the hub service, who is calling, and the hot paths' body parsing."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from hub import rules
from hub.db import WouldWait
from hub.rules import Principal
from hub.service import Hub

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

# Request bodies the hot paths parse themselves (see `parse_body`); app.py adds their
# schemas to the OpenAPI document, which FastAPI only does for bodies it parses.
BODY_MODELS: list[type[BaseModel]] = []


# Dependencies that only look at what they are given are `async def`: FastAPI runs a
# plain `def` dependency in its threadpool, and each hop costs a push ~1 ms.
async def get_hub(request: Request) -> Hub:
    return request.app.state.hub


HubDep = Annotated[Hub, Depends(get_hub)]


async def bearer(authorization: Annotated[str | None, Header()] = None) -> str:
    """The token a request carries; whether it is good is the hub's to say."""
    if not authorization or not authorization.startswith("Bearer "):
        raise rules.Unauthenticated("Send a token as 'Authorization: Bearer <token>'.")
    return authorization.removeprefix("Bearer ").strip()


Token = Annotated[str, Depends(bearer)]


def caller(hub: HubDep, token: Token) -> Principal:
    # A plain `def`, so FastAPI runs it in its threadpool: on PostgreSQL the lookup is a
    # round trip, and blocking the event loop for it stalls every request of the worker.
    # The two hot paths (push, reserve) skip this and check the token in their own transaction.
    return rules.authorize(hub.authenticate(token), ("store", "ops", "web"))


def require(*roles: str) -> Callable[..., Any]:
    async def check(p: Annotated[Principal, Depends(caller)]) -> Principal:
        return rules.authorize(p, roles)
    return check


async def store_caller(store_id: str, p: Annotated[Principal, Depends(caller)]) -> Principal:
    """A store reads only its own things; ops may read any store's."""
    return rules.authorize(p, ("store", "ops"), store_id)


StoreCaller = Annotated[Principal, Depends(store_caller)]
Ops = Annotated[Principal, Depends(require("ops"))]
WebShop = Annotated[Principal, Depends(require("web", "ops"))]


def json_body(model: type[BaseModel], *, optional: bool = False) -> dict:
    """`openapi_extra` for a route that parses `model` itself with `parse_body` (`optional`: every field
    has a default, and the body may be left out)."""
    BODY_MODELS.append(model)
    return {"requestBody": {"required": not optional, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


async def parse_body(request: Request, model: type[M], *, optional: bool = False) -> M:
    """The body as `model`, parsed by pydantic straight from the bytes.

    FastAPI would run `json.loads` and then validate the Python objects: two passes,
    and on a 1,000-entry push the slower half of the request. A malformed body is
    refused the same way FastAPI refuses one (422, each problem named). An `optional`
    body left out means its defaults, as `{}` does: a bare POST is what ops type first.
    """
    body = await request.body()
    if optional and not body.strip():
        return model()
    try:
        return model.model_validate_json(body)
    except ValidationError as err:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])}
                                      for e in err.errors(include_url=False)]) from None


async def no_body(request: Request, _: Annotated[Principal, Depends(caller)]) -> None:
    """Refuse a body on a route that reads none: a field sent there (a quantity, a reason) would be
    ignored without a word, and the caller would take it as done. After the token (401 comes first)."""
    body = (await request.body()).strip()
    if body and body != b"{}":
        raise RequestValidationError([{"type": "extra_forbidden", "loc": ("body",), "input": body[:100].decode(
            "utf-8", "replace"), "msg": "this request takes no body: it would be ignored"}])


NoBody = Depends(no_body)


def only_query(request: Request, *names: str) -> None:
    """Refuse a query parameter the route does not read: `?dry_run=true` on a route that takes it in
    the body would run for real."""
    unknown = sorted(set(request.query_params) - set(names))
    if unknown:
        raise RequestValidationError([{"type": "extra_forbidden", "loc": ("query", unknown[0]),
                                       "input": request.query_params[unknown[0]][:100],
                                       "msg": f"not a parameter here (this request reads only {', '.join(names)} "
                                              "from the query; the rest goes in the body)"}])


async def write(request: Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a hot-path write (`Hub.ingest`, `Hub.reserve`) where it costs least.

    On SQLite in place, if the write lock is free (`no_wait`): one writer runs at a
    time anyway, and the two hand-offs to a thread and back cost a 100-entry push about
    8% of its time (A/B of 900 pushes). If another writer holds the lock, on a database
    thread, which waits for it without holding up the event loop. On PostgreSQL always
    on a thread.
    """
    if request.app.state.hub.writes_inline:
        try:
            return fn(*args, no_wait=True, **kwargs)
        except WouldWait:
            pass
    return await off_loop(request, fn, *args, **kwargs)


async def off_loop(request: Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking hub work on the app's database threads, one per pooled connection.

    FastAPI's own threadpool has 40 threads: more concurrent requests than the pool
    has connections, so the pool would open (and then close) overflow connections
    under load, and each PostgreSQL connection is a new server process. Here the
    excess waits for a thread instead, as it would for a connection.
    """
    return await asyncio.get_running_loop().run_in_executor(request.app.state.db_threads,
                                                            functools.partial(fn, *args, **kwargs))
