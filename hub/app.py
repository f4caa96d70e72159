"""The hub's FastAPI application: one router per audience, refusals as plain sentences."""

from __future__ import annotations

import gc
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.api import balance, ops, reports, stores, web
from hub.api.errors import describe_invalid, refusal, status_of
from hub.deps import BODY_MODELS
from hub.rules import HubError
from hub.service import Hub
from hub.settings import Settings


class BodyLimit:
    """Refuse a body over `limit` bytes with 413: by its Content-Length before reading it, and a
    chunked body (no Content-Length) by counting while it is read, before the app sees any of it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    def _too_large(self, scope: Scope) -> JSONResponse:
        # A caller with no token hears that first, whatever else is wrong with its request.
        if not any(k == b"authorization" and v.startswith(b"Bearer ") for k, v in scope["headers"]):
            return refusal(401, "unauthenticated", "Send a token as 'Authorization: Bearer <token>'.")
        return refusal(413, "too_large", f"The request body is over {self.limit} bytes; "
                       "send the ledger in smaller batches.")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if length is not None:
            if not length.isdigit() or int(length) > self.limit:
                await self._too_large(scope)(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._too_large(scope)(scope, receive, send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def create_app(settings: Settings | None = None, hub: Hub | None = None) -> FastAPI:
    settings = settings or Settings()
    hub = hub or Hub.open(settings.database_url, pool_size=settings.pool_size)
    if settings.rcn_country:
        hub.rcn_country = settings.rcn_country.upper()
    hub.chain_tz, hub.report_keep_days = settings.chain_tz, settings.report_keep_days
    hub.report_dir, hub.report_tolerance = settings.report_dir, settings.report_tolerance

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Everything made while starting (FastAPI, SQLAlchemy, pydantic schemas) lives as long as
        # the process: freeze it out of the collector's full passes, and collect the young
        # generation less often (a 100-entry push makes thousands of short-lived objects, so
        # the default threshold of 700 ran a collection several times per push).
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 20, 20)
        scheduler = BackgroundScheduler(timezone="UTC")
        scheduler.add_job(hub.expire_due, IntervalTrigger(seconds=settings.expire_every_s, timezone="UTC"),
                          id="expire-reservations", max_instances=1, coalesce=True)
        hub.cadence = replace(hub.cadence, min_history=settings.min_history)
        if settings.balance_every_s > 0:
            hub.cadence = replace(hub.cadence, every=timedelta(seconds=settings.balance_every_s))
            hub.lease_for = timedelta(seconds=settings.balance_lease_s)
            scheduler.add_job(hub.scheduled_rebalance, IntervalTrigger(seconds=settings.balance_every_s,
                                                                       timezone="UTC"),
                              id="rebalance", max_instances=1, coalesce=True)
        hour, minute = (int(x) for x in settings.report_at.split(":"))
        scheduler.add_job(hub.scheduled_report, CronTrigger(hour=hour, minute=minute, timezone=settings.chain_tz),
                          id="nightly-report", max_instances=1, coalesce=True)
        if settings.report_recheck_s > 0:
            scheduler.add_job(hub.recheck_reports, IntervalTrigger(seconds=settings.report_recheck_s, timezone="UTC"),
                              id="report-recheck", max_instances=1, coalesce=True)
        scheduler.start()
        app.state.db_threads = ThreadPoolExecutor(settings.pool_size, thread_name_prefix="hub-db")
        try:
            yield
        finally:
            scheduler.shutdown(wait=False)
            app.state.db_threads.shutdown(wait=True)

    # /docs and /redoc from files installed with the hub, not a CDN: a hub on a network cut off from
    # the internet must still show its API, and nothing the hub serves loads an asset from outside.
    # Swagger UI's validator badge would fetch an image from swagger.io: off.
    app = FastAPIOffline(title="Backroom hub", version="1", lifespan=lifespan,
                         swagger_ui_parameters={"validatorUrl": None})
    app.state.hub = hub
    app.state.settings = settings

    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)

    @app.exception_handler(HubError)
    async def hub_error(request: Request, err: HubError) -> JSONResponse:
        extra = {k: v for k, v in err.extra.items() if k == "expected_seq"}
        return refusal(status_of(err), err.code, err.message, **extra)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        return refusal(422, "invalid", describe_invalid(err))

    @app.get("/health", tags=["health"])
    def health() -> dict:
        return {"ok": True}

    for r in (stores.router, web.router, ops.router, balance.router, reports.router):
        app.include_router(r)

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            known = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in BODY_MODELS:
                body = model.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, sub in body.pop("$defs", {}).items():
                    known.setdefault(name, sub)
                known.setdefault(model.__name__, body)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def app_from_env() -> FastAPI:
    """uvicorn's factory for `backroom hub serve` (settings from BACKROOM_HUB_* variables)."""
    return create_app(Settings())
