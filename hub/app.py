"""The hub's FastAPI application: one router per audience, refusals as plain sentences."""

from __future__ import annotations

from contextlib import asynccontextmanager

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from hub.api import ops, stores, web
from hub.rules import HubError
from hub.service import Hub
from hub.settings import Settings


def _refusal(status: int, code: str, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"detail": {"code": code, "message": message, **extra}}, status_code=status)


def create_app(settings: Settings | None = None, hub: Hub | None = None) -> FastAPI:
    settings = settings or Settings()
    hub = hub or Hub.open(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        scheduler = BackgroundScheduler(timezone="UTC")
        scheduler.add_job(hub.expire_due, IntervalTrigger(seconds=settings.expire_every_s, timezone="UTC"),
                          id="expire-reservations", max_instances=1, coalesce=True)
        scheduler.start()
        try:
            yield
        finally:
            scheduler.shutdown(wait=False)

    app = FastAPI(title="Backroom hub", version="1", lifespan=lifespan)
    app.state.hub = hub
    app.state.settings = settings

    @app.middleware("http")
    async def limit_body(request: Request, call_next):  # type: ignore[no-untyped-def]
        # Refuse before reading: an oversized batch costs us nothing.
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > settings.max_body_bytes):
            return _refusal(413, "too_large", f"The request body is over {settings.max_body_bytes} bytes; "
                            "send the ledger in smaller batches.")
        return await call_next(request)

    @app.exception_handler(HubError)
    async def hub_error(request: Request, err: HubError) -> JSONResponse:
        extra = {k: v for k, v in err.extra.items() if k == "expected_seq"}
        return _refusal(err.status, err.code, err.message, **extra)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        problems = []
        for e in err.errors()[:5]:
            where = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
            problems.append(f"{where or 'body'}: {e.get('msg', 'invalid')}")
        more = f" (and {len(err.errors()) - 5} more)" if len(err.errors()) > 5 else ""
        return _refusal(422, "invalid", "The request is malformed: " + "; ".join(problems) + more + ".")

    @app.get("/health", tags=["health"])
    def health() -> dict:
        return {"ok": True}

    for r in (stores.router, web.router, ops.router):
        app.include_router(r)
    return app


def app_from_env() -> FastAPI:
    """uvicorn's factory for `backroom hub serve` (settings from BACKROOM_HUB_* variables)."""
    return create_app(Settings())
