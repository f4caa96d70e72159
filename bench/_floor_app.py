"""The floor the hub is measured against: a bare FastAPI app, run under the same uvicorn.

    POST /stores/{store_id}/ledger   parses a `sync.models.PushBatch` (the same
                                     pydantic model the hub parses) and writes
                                     nothing: the HTTP + parsing part of a push.
    POST /web/reservations           the same guarded decrement the hub does
                                     for a web reservation, by hand with raw
                                     psycopg: one transaction of
                                     UPDATE ... WHERE promisable >= qty, then
                                     INSERT of the reservation row.

Each worker process opens its own small pool of async psycopg connections
(BENCH_FLOOR_POOL, default 10, like the hub's SQLAlchemy pool_size) to
BENCH_FLOOR_PG_URL at start-up, if that variable is set.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from sync.models import PushBatch

PG_URL = os.environ.get("BENCH_FLOOR_PG_URL")
POOL_SIZE = int(os.environ.get("BENCH_FLOOR_POOL", "10"))

RESERVE_SQL = ("UPDATE floor_stock SET hub_share = hub_share - %(qty)s, reserved = reserved + %(qty)s "
               "WHERE location = %(location)s AND sku = %(sku)s AND hub_share - safety_buffer >= %(qty)s")
INSERT_SQL = ("INSERT INTO floor_reservations (reservation_id, location, sku, qty, idem_key) "
              "VALUES (%(rid)s, %(location)s, %(sku)s, %(qty)s, %(key)s)")


class ReserveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1, max_length=64)
    qty: Annotated[StrictInt, Field(ge=1, le=10_000)]
    location: str | None = Field(default=None, max_length=32)
    ttl_s: Annotated[StrictInt, Field(ge=1, le=7 * 24 * 3600)] = 900


pool: asyncio.Queue | None = None


@asynccontextmanager
async def lifespan(app: FastAPI):
    global pool
    conns = []
    if PG_URL:
        import psycopg

        pool = asyncio.Queue()
        for _ in range(POOL_SIZE):
            c = await psycopg.AsyncConnection.connect(PG_URL)
            conns.append(c)
            pool.put_nowait(c)
    try:
        yield
    finally:
        for c in conns:
            await c.close()


app = FastAPI(lifespan=lifespan)


@app.get("/health")
async def health() -> dict:
    return {"ok": True}


@app.post("/stores/{store_id}/ledger")
async def ingest(store_id: str, batch: PushBatch) -> dict:
    return {"accepted": len(batch.entries), "duplicates": 0, "next_seq": batch.entries[-1].seq + 1}


@app.post("/web/reservations", status_code=201)
async def reserve(req: ReserveRequest, idempotency_key: Annotated[str, Header(alias="Idempotency-Key")]) -> dict:
    assert pool is not None, "BENCH_FLOOR_PG_URL is not set"
    conn = await pool.get()
    rid = "F-" + secrets.token_hex(10)
    args = {"qty": req.qty, "location": req.location, "sku": req.sku, "rid": rid, "key": idempotency_key}
    try:
        async with conn.transaction():
            cur = await conn.execute(RESERVE_SQL, args)
            if cur.rowcount != 1:
                raise HTTPException(409, detail={"code": "not_enough", "message": "not enough to promise"})
            await conn.execute(INSERT_SQL, args)
    finally:
        pool.put_nowait(conn)
    return {"reservation_id": rid, "location": req.location, "sku": req.sku, "qty": req.qty, "status": "held"}
