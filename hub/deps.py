"""Dependencies the routers share: the hub service and who is calling."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from hub.service import Hub, Principal


# Dependencies that only look at what they are given are `async def`: FastAPI runs a
# plain `def` dependency in its threadpool, and each hop costs a push ~1 ms.
async def get_hub(request: Request) -> Hub:
    return request.app.state.hub


HubDep = Annotated[Hub, Depends(get_hub)]


def _refuse(status: int, code: str, message: str) -> HTTPException:
    return HTTPException(status, detail={"code": code, "message": message})


async def caller(hub: HubDep, authorization: Annotated[str | None, Header()] = None) -> Principal:
    # On the event loop, not the threadpool: it is one indexed read by primary key
    # (well under a millisecond), and a threadpool hop costs as much under load.
    if not authorization or not authorization.startswith("Bearer "):
        raise _refuse(401, "unauthenticated", "Send a token as 'Authorization: Bearer <token>'.")
    p = hub.authenticate(authorization.removeprefix("Bearer ").strip())
    if p is None:
        raise _refuse(401, "unauthenticated", "That token is unknown or revoked.")
    return p


def require(*roles: str):
    async def check(p: Annotated[Principal, Depends(caller)]) -> Principal:
        if p.role not in roles:
            raise _refuse(403, "forbidden", f"A {p.role} token cannot do this; it needs a {' or '.join(roles)} token.")
        return p
    return check


async def store_caller(store_id: str, p: Annotated[Principal, Depends(caller)]) -> Principal:
    """A store reads and writes only its own things; ops may read any store's."""
    if p.role == "store" and p.store_id != store_id:
        raise _refuse(403, "wrong_store", f"This token belongs to store {p.store_id}, not {store_id}.")
    if p.role not in ("store", "ops"):
        raise _refuse(403, "forbidden", f"A {p.role} token cannot act for a store.")
    return p


StoreCaller = Annotated[Principal, Depends(store_caller)]
Ops = Annotated[Principal, Depends(require("ops"))]
WebShop = Annotated[Principal, Depends(require("web", "ops"))]
