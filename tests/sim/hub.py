"""The hub in memory: `hub.rules` driven the way `hub.service.Hub` drives them.

Mirrored from `Hub.ingest`, in the same order: the batch is hashed; the
hub's hashes for sequences below `next_seq` are looked up; `rules.plan_batch`
refuses a gap or a divergence (nothing written; a divergence is recorded and
blocks grants); `next_seq` moves; new entries are applied with
`rules.apply_entry` against the location's positions (created on first
sight, with the SKU's safety buffer), the open reservations there newest
first, and the quantity of the grant an entry applies; grants named by new
entries become ``applied``, release requests they answer ``answered``.
Every method is one transaction: it raises before changing anything, or
completes.

`pull`, `grant`, `request_release`, `reserve` (idempotent by key),
`commit`, `cancel` and `expire_due` mirror the service's methods of those
names. `balance` is the sim's own ops policy on top: grant to stores
running low, ask stores holding much to release.

The hub sees a store only through the entries pushed to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hub import rules
from hub.rules import EntryFacts, Position, Reservation
from sync import models as wire


@dataclass
class GrantRow:
    grant_id: str
    store_id: str
    grant_no: int
    sku: str
    qty: int
    status: str  # in_flight | applied


@dataclass
class ReleaseRow:
    request_id: str
    store_id: str
    sku: str
    qty: int
    status: str  # open | answered
    released: int | None = None


class SimHub:
    def __init__(self, stores: list[str], warehouse: str, buffers: dict[str, int],
                 clock: Callable[[], datetime], hash_of: Callable[[wire.LedgerEntry], str],
                 bugs: frozenset[str] = frozenset()) -> None:
        self.stores = list(stores)
        self.warehouse = warehouse
        self.buffers = buffers
        self.clock = clock
        self.hash_of = hash_of
        self.bugs = bugs
        self.next_seq = {s: 1 for s in stores}
        self.next_grant_no = {s: 1 for s in stores}
        self.blocked = {s: False for s in stores}
        self.entries: dict[str, dict[int, tuple[str, wire.LedgerEntry]]] = {s: {} for s in stores}
        self.positions: dict[tuple[str, str], Position] = {}
        self.grants: dict[str, GrantRow] = {}
        self.releases: dict[str, ReleaseRow] = {}
        self.reservations: dict[str, Reservation] = {}
        self.res_order: dict[str, int] = {}  # created_at, as a counter
        self.idem: dict[str, dict] = {}
        self.incidents: list[dict] = []
        self.applied_log: list[tuple[str, int]] = []  # every (store, seq) ever applied: the checker reads it
        self._n = 0

    # -- setting up (Hub.load_chain) -------------------------------------------------

    def load_warehouse(self, stock: dict[str, int]) -> None:
        for sku, q in stock.items():
            self.positions[(self.warehouse, sku)] = Position(self.warehouse, sku, on_hand=q, hub_share=q,
                                                             safety_buffer=self.buffers[sku])

    def _positions(self, location: str, skus: set[str] | list[str]) -> dict[str, Position]:
        out = {}
        for sku in skus:
            if sku not in self.buffers:
                raise rules.Unknown(f"SKU {sku} is not in the chain's catalog.")
            out[sku] = self.positions.get((location, sku)) or Position(location, sku,
                                                                       safety_buffer=self.buffers[sku])
        return out

    def _save(self, ps: dict[str, Position]) -> None:
        for p in ps.values():
            self.positions[(p.location, p.sku)] = p

    @staticmethod
    def _copy(p: Position) -> Position:
        return Position(p.location, p.sku, p.on_hand, p.quota, p.held, p.in_flight, p.hub_share, p.reserved,
                        p.shortfall, p.safety_buffer)

    # -- stores: push, pull ------------------------------------------------------------

    def ingest(self, store_id: str, batch: wire.PushBatch) -> wire.PushResult:
        if batch.store_id != store_id or any(e.store_id != store_id for e in batch.entries):
            raise rules.WrongStore(f"This credential is for store {store_id}; the batch names another store.")
        hashes = [(e.seq, self.hash_of(e)) for e in batch.entries]
        next_seq = self.next_seq[store_id]
        held_rows = self.entries[store_id]
        held = {s: held_rows[s][0] for s, _ in hashes if s < next_seq and s in held_rows}
        try:
            plan = rules.plan_batch(hashes, next_seq, held)
        except rules.Divergence as d:
            self.incidents.append({"store_id": store_id, "kind": "divergence", "seq": d.extra.get("seq")})
            self.blocked[store_id] = True
            raise
        new_idx = list(plan.new)
        if "hub_double_apply" in self.bugs:  # planted: duplicates are applied again
            new_idx += [i for i, (s, _) in enumerate(hashes) if s < next_seq]
        self.next_seq[store_id] = plan.next_seq
        if not new_idx:
            return wire.PushResult(accepted=0, duplicates=plan.duplicates, next_seq=plan.next_seq)
        new = [batch.entries[i] for i in new_idx]
        skus = {e.sku for e in new}
        # Positions are loaded as copies and written back at the end: one transaction.
        ps = {sku: self._copy(p) for sku, p in self._positions(store_id, skus).items()}
        open_res = sorted((r for r in self.reservations.values()
                           if r.location == store_id and r.sku in skus and r.status in rules.OPEN),
                          key=lambda r: -self.res_order[r.reservation_id])
        grant_refs = [e.ref for e in new if e.kind == "quota_granted" and e.ref]
        known_grants = {g: self.grants[g].qty for g in grant_refs
                        if g in self.grants and self.grants[g].store_id == store_id}
        answered = []
        for e in new:
            facts = EntryFacts(e.seq, e.kind, e.sku, e.qty, e.on_hand_delta, e.quota_delta, e.held_delta,
                               e.over_quota, e.ref, bool(e.detail.get("hub_ordered")), e.quota_after)
            s = rules.apply_entry(ps[e.sku], facts, [r for r in open_res if r.sku == e.sku],
                                  known_grants.get(e.ref) if e.kind == "quota_granted" else None)
            self.applied_log.append((store_id, e.seq))
            if s.note:
                self.incidents.append({"store_id": store_id, "kind": "mismatch", "seq": e.seq, "message": s.note})
            if e.kind == "quota_released" and e.detail.get("request_id"):
                answered.append((e.detail["request_id"], e.qty))
        for i in plan.new:
            self.entries[store_id][hashes[i][0]] = (hashes[i][1], batch.entries[i])
        self._save(ps)
        for g in grant_refs:
            if g in self.grants:
                self.grants[g].status = "applied"
        for rid, released in answered:
            if rid in self.releases:
                self.releases[rid].status = "answered"
                self.releases[rid].released = released
        return wire.PushResult(accepted=len(plan.new), duplicates=plan.duplicates, next_seq=plan.next_seq)

    def pull(self, store_id: str) -> wire.PullResponse:
        gs = [wire.Grant(grant_id=g.grant_id, grant_no=g.grant_no, sku=g.sku, qty=g.qty)
              for g in sorted(self.grants.values(), key=lambda g: g.grant_no)
              if g.store_id == store_id and g.status == "in_flight"]
        rs = [wire.ReleaseRequest(request_id=r.request_id, sku=r.sku, qty=r.qty)
              for r in self.releases.values() if r.store_id == store_id and r.status == "open"]
        return wire.PullResponse(cursor=0, grants=gs, release_requests=rs)

    # -- ops: quota moves ----------------------------------------------------------------

    def grant(self, store_id: str, sku: str, qty: int) -> dict:
        ps = {k: self._copy(p) for k, p in self._positions(store_id, [sku]).items()}
        rules.grant(ps[sku], qty, blocked=self.blocked[store_id])
        no = self.next_grant_no[store_id]
        grant_id = f"G-{store_id}-{no}"
        self.grants[grant_id] = GrantRow(grant_id, store_id, no, sku, qty, "in_flight")
        self.next_grant_no[store_id] = no + 1
        self._save(ps)
        return {"grant_id": grant_id, "grant_no": no, "store_id": store_id, "sku": sku, "qty": qty}

    def request_release(self, store_id: str, sku: str, qty: int) -> dict:
        if qty <= 0:
            raise rules.BadRequest(f"A release request must be of at least 1 unit, not {qty}.")
        self._positions(store_id, [sku])
        self._n += 1
        rid = f"RR-{store_id}-{self._n}"
        self.releases[rid] = ReleaseRow(rid, store_id, sku, qty, "open")
        return {"request_id": rid, "store_id": store_id, "sku": sku, "qty": qty}

    # -- web shop ------------------------------------------------------------------------

    def reserve(self, key: str, sku: str, qty: int, *, location: str | None = None, ttl_s: int = 900) -> dict:
        if not 1 <= ttl_s <= 7 * 24 * 3600:
            raise rules.BadRequest(f"A reservation lasts 1 s to 7 days, not {ttl_s} s.")
        k = f"reserve:{key}"
        if k in self.idem:
            return self.idem[k]
        now = self.clock()
        if location is None:
            cands = [self._copy(p) for (loc, s), p in sorted(self.positions.items()) if s == sku]
            pos = rules.pick_location(cands, qty)
            ps = {sku: pos}
        else:
            ps = {k2: self._copy(p) for k2, p in self._positions(location, [sku]).items()}
        rules.reserve(ps[sku], qty)
        rid = f"W-{key}"
        where = ps[sku].location
        self._n += 1
        self.reservations[rid] = Reservation(rid, where, sku, qty, "held", now + timedelta(seconds=ttl_s))
        self.res_order[rid] = self._n
        self._save(ps)
        result = {"reservation_id": rid, "location": where, "sku": sku, "qty": qty, "status": "held"}
        self.idem[k] = result
        return result

    def _close_reservation(self, rid: str, status: str) -> dict:
        if rid not in self.reservations:
            raise rules.Unknown(f"There is no reservation {rid}.")
        stored = self.reservations[rid]
        r = Reservation(stored.reservation_id, stored.location, stored.sku, stored.qty, stored.status,
                        stored.expires_at, stored.at_risk)
        now = self.clock()
        if status == "ordered":
            rules.commit(r, now)
        else:
            ps = {k: self._copy(p) for k, p in self._positions(r.location, [r.sku]).items()}
            rules.unreserve(ps[r.sku], r, status)
            self._save(ps)
        stored.status = r.status
        return {"reservation_id": rid, "status": r.status, "at_risk": r.at_risk}

    def commit(self, rid: str) -> dict:
        return self._close_reservation(rid, "ordered")

    def cancel(self, rid: str) -> dict:
        return self._close_reservation(rid, "cancelled")

    def expire_due(self) -> int:
        now = self.clock()
        due = [r.reservation_id for r in self.reservations.values()
               if r.status == "held" and r.expires_at is not None and r.expires_at <= now]
        n = 0
        for rid in due:
            try:
                self._close_reservation(rid, "expired")
                n += 1
            except rules.BadRequest:
                pass
        return n

    # -- the sim's ops policy --------------------------------------------------------------

    def balance(self, rng: Any) -> list[str]:
        """Grant to stores whose quota runs low, ask stores holding much to release. Returns what it did."""
        did = []
        for store in self.stores:
            for sku in sorted(self.buffers):
                p = self.positions.get((store, sku))
                if p is None:
                    continue
                in_flight = any(g.store_id == store and g.sku == sku and g.status == "in_flight"
                                for g in self.grants.values())
                asked = any(r.store_id == store and r.sku == sku and r.status == "open"
                            for r in self.releases.values())
                if p.quota <= 1 and p.promisable > 0 and (not in_flight or rng.random() < 0.3):
                    qty = rng.randint(1, p.promisable)
                    try:
                        self.grant(store, sku, qty)
                        did.append(f"grant {store} {sku} {qty}")
                    except rules.HubError:
                        pass
                elif p.quota >= 4 and (not asked or rng.random() < 0.2) and rng.random() < 0.5:
                    qty = rng.randint(1, p.quota)
                    self.request_release(store, sku, qty)
                    did.append(f"ask {store} {sku} {qty}")
        return did
