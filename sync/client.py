"""The store's side of the wire: an httpx client that knows "offline" from "refused".

    SyncError
    ├── Offline    the hub could not be reached, timed out or answered 5xx
    │              after retries: keep selling, try again later
    └── Refused    the hub answered 4xx: it will say the same again until
                   something changes (`code`, `message`, `expected_seq`)

A push that timed out after the hub committed is simply sent again: the hub
acknowledges entries it already holds, so a retry is always safe.

`probe()` is the other question, "is the hub there at all?": one short request,
no retries, so a hub that hangs or died shows as offline within seconds while
a push keeps its longer timeout (a big batch on a busy hub may need it).
"""

from __future__ import annotations

import random
import time
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from sync.models import (
    DaySnapshot, LedgerTail, PullResponse, PushBatch, PushResult, Refusal, SnapshotReceipt, StoreOpening,
)

M = TypeVar("M", bound=BaseModel)

PROBE_TIMEOUT = 1.5  # seconds; well under a push's timeout, and the status bar's 5 s promise


class SyncError(Exception):
    pass


class Offline(SyncError):
    """The hub is out of reach; nothing is lost, try later."""


class Refused(SyncError):
    def __init__(self, status: int, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.status = status
        self.code = refusal.code
        self.message = refusal.message
        self.expected_seq = refusal.expected_seq


class HubClient:
    def __init__(self, base_url: str, token: str, *, timeout: float = 5.0, retries: int = 2,
                 backoff: float = 0.2, transport: httpx.BaseTransport | None = None) -> None:
        self.retries = retries
        self.backoff = backoff
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"), headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)), transport=transport)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, model: type[M], **kw: Any) -> M:
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                r = self.http.request(method, path, **kw)
            except httpx.TransportError as err:  # connect, read timeout, reset: all "offline"
                failure: Exception = err
            else:
                if r.status_code < 400:
                    return model.model_validate_json(r.content)
                if r.status_code < 500:
                    raise Refused(r.status_code, _refusal(r))
                failure = Offline(f"the hub answered {r.status_code}")
            if attempt < self.retries:
                time.sleep(delay * (0.5 + random.random()))  # jitter: many stores reconnect at once
                delay *= 2
        raise Offline(f"hub unreachable: {failure}") from failure

    def probe(self, timeout: float = PROBE_TIMEOUT) -> bool:
        """True when the hub answers /health within `timeout`; False when it is gone, hangs or fails."""
        try:
            r = self.http.get("/health", timeout=httpx.Timeout(timeout))
        except httpx.TransportError:  # refused, reset, or accepted and never answered
            return False
        return r.status_code < 500

    def push(self, batch: PushBatch) -> PushResult:
        return self._call("POST", f"/stores/{batch.store_id}/ledger", PushResult,
                          content=batch.model_dump_json(), headers={"Content-Type": "application/json"})

    def pull(self, store_id: str, cursor: int) -> PullResponse:
        return self._call("GET", f"/stores/{store_id}/pull", PullResponse, params={"cursor": cursor})

    def opening(self, store_id: str) -> StoreOpening:
        return self._call("GET", f"/stores/{store_id}/opening", StoreOpening)

    def ledger_tail(self, store_id: str, after: int) -> LedgerTail:
        """The hub's copy of this store's entries after `after` (a restored node recovers them)."""
        return self._call("GET", f"/stores/{store_id}/ledger", LedgerTail, params={"after": after})

    def put_snapshot(self, part: DaySnapshot) -> SnapshotReceipt:
        """One part of an end-of-day snapshot; sending a part again is safe (the hub keeps the first)."""
        return self._call("PUT", f"/stores/{part.store_id}/snapshots/{part.business_date}", SnapshotReceipt,
                          content=part.model_dump_json(), headers={"Content-Type": "application/json"})


def _refusal(r: httpx.Response) -> Refusal:
    try:
        body = r.json()
        detail = body.get("detail", body) if isinstance(body, dict) else body
        if isinstance(detail, dict) and "code" in detail:
            return Refusal.model_validate(detail)
        return Refusal(code=f"http_{r.status_code}", message=str(detail))
    except (ValueError, ValidationError):
        return Refusal(code=f"http_{r.status_code}", message=r.text[:300] or r.reason_phrase)
