"""A rogue store: its pushes are written by hand to reach into other stores' records.

Its own ledger stays well-formed (gapless, balances after that add up), so
the hub must take each entry as a fact; what it must never do is let one
change another store's grant, release request, transfer or web order, trust a store's
word that a transfer was hub-ordered, or take a grant twice or at another
quantity. Malformed entries (an unknown SKU, a quantity no wire allows) must
be refused whole. The checker's invariants on the other stores catch any
reach across; the rogue's own books are checked like any store's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import select

from hub import db as hub_db
from hub import rules as hub_rules
from sync.models import LedgerEntry, PushBatch

if TYPE_CHECKING:
    from tests.sim.world import World


class Rogue:
    def __init__(self, world: World, store: str) -> None:
        self.w = world
        self.store = store
        self.entries: list[LedgerEntry] = []
        self.sums: dict[str, list[int]] = {}  # sku -> [on_hand, quota, held]
        self.pushed = 0
        opening = world.hubs[0].opening(store)
        for sku, bin_, qty, quota in opening.stock:
            self._write("receive", sku, qty, back=qty, quota=quota, ref="opening", push=False)
        self._push()

    def _write(self, kind: str, sku: str, qty: int, *, back: int = 0, quota: int = 0, ref: str | None = None,
               detail: dict | None = None, push: bool = True) -> bool:
        s = self.sums.setdefault(sku, [0, 0, 0])
        after = [s[0] + back, s[1] + quota, s[2]]
        try:
            e = LedgerEntry(seq=len(self.entries) + 1, store_id=self.store, op_id=f"rogue-{len(self.entries) + 1}",
                            kind=kind, sku=sku, qty=qty, floor_delta=0, back_delta=back, quota_delta=quota,
                            held_delta=0, over_quota=0, ref=ref, amount=0, on_hand_after=after[0],
                            quota_after=max(0, after[1]), held_after=0, terminal="X", clerk="rogue",
                            at=self.w.now.isoformat(), detail=detail or {})
        except ValidationError:
            self.w.stats["forged_refused:wire"] += 1
            return False
        self.entries.append(e)
        self.sums[sku] = after
        return self._push() if push else True

    def _push(self) -> bool:
        w = self.w
        batch = self.entries[self.pushed:]
        if not batch:
            return True
        w.hub_faults.on = False  # the rogue's link is perfect: what matters is what the hub does with it
        try:
            res = w.hubs[0].ingest(self.store, PushBatch(store_id=self.store, entries=batch))
            self.pushed = res.next_seq - 1
            return True
        except hub_rules.HubError as err:
            w.stats[f"forged_refused:{err.code}"] += 1
            # The hub took nothing: the entry never happened.
            last = self.entries.pop()
            s = self.sums[last.sku]
            self.sums[last.sku] = [s[0] - last.back_delta, s[1] - last.quota_delta, s[2]]
            return False
        finally:
            w.hub_faults.on = True

    def _foreign(self, table: Any, where: Any, *first: Any) -> Any:
        with self.w.hubs[0].engine.connect() as conn:
            return conn.execute(select(table).where(where).order_by(*first)).first()

    def push_forged(self) -> None:
        w, rng = self.w, self.w.rng
        self._push()  # anything a hub restore rewound
        what = rng.choice(("foreign_grant", "own_grant_twice", "foreign_transfer", "foreign_release",
                           "hub_ordered", "unknown_sku", "huge", "foreign_order"))
        sku = rng.choice(w.skus)
        s = self.sums.setdefault(sku, [0, 0, 0])
        w.stats[f"forged:{what}"] += 1
        if what == "foreign_grant":
            # one still in flight if there is one: the other store has yet to apply it
            g = self._foreign(hub_db.grants, hub_db.grants.c.store_id != self.store,
                              hub_db.grants.c.status != "in_flight", hub_db.grants.c.grant_no.desc())
            if g is not None:
                self._write("quota_granted", g.sku, g.qty, quota=g.qty, ref=g.grant_id)
        elif what == "own_grant_twice":
            w.hub_faults.on = False
            try:
                g = w.hubs[0].grant(self.store, sku, 1)
            except hub_rules.HubError:
                return
            finally:
                w.hub_faults.on = True
            qty = rng.choice((1, 2))
            self._write("quota_granted", sku, qty, quota=qty, ref=g["grant_id"])
            self._write("quota_granted", sku, 1, quota=1, ref=g["grant_id"])
        elif what == "foreign_transfer":
            t = self._foreign(hub_db.transfers, hub_db.transfers.c.to_location != self.store,
                              hub_db.transfers.c.status != "in_transit")
            if t is not None:
                self._write("transfer_in", t.sku, t.qty + 3, back=t.qty + 3, quota=t.qty + 3, ref=t.transfer_id,
                            detail={"from": t.from_location})
        elif what == "foreign_release":
            r = self._foreign(hub_db.release_requests, hub_db.release_requests.c.store_id != self.store,
                              hub_db.release_requests.c.status != "open")
            if r is not None and self.sums.get(r.sku, [0, 0, 0])[1] >= 1:
                self._write("quota_released", r.sku, 1, quota=-1, ref=r.request_id,
                            detail={"request_id": r.request_id})
        elif what == "hub_ordered":
            if s[1] >= 1 and s[0] >= 1:
                self._write("transfer_out", sku, 1, back=-1, quota=-1, ref=f"X-{w.step_no}",
                            detail={"to": "W1", "hub_ordered": True})
        elif what == "foreign_order":
            # another store's web order, handed over here: that order must stay open where it is
            open_ = hub_db.reservations.c.status.in_(("to_hand_over", "ordered"))
            o = self._foreign(hub_db.reservations, hub_db.reservations.c.location != self.store, open_.desc())
            if o is not None and o.status in ("to_hand_over", "ordered") and self.sums.get(o.sku, [0])[0] >= o.qty:
                self._write("order_handed_over", o.sku, o.qty, back=-o.qty, ref=o.reservation_id,
                            detail={"how": "pickup"})
        elif what == "unknown_sku":
            self._write("receive", "NO-SUCH-SKU", 1, back=1, quota=1)
        elif what == "huge":
            self._write("receive", sku, 4_000_000_000_000, back=4_000_000_000_000, quota=0)

    def hub_restored(self) -> None:
        """The hub lost the rogue's newest entries too: it resends them on its next push."""
        self.pushed = 0

    def figures(self, held_by_hub: int) -> dict[str, tuple[int, int, int, int]]:
        """Per SKU: on_hand, quota, held, and the hub-side units of entries the hub lacks."""
        out = {}
        for sku, (oh, q, h) in self.sums.items():
            pending = sum(e.back_delta + e.floor_delta - e.quota_delta - e.held_delta
                          for e in self.entries[held_by_hub:] if e.sku == sku)
            out[sku] = (oh, q, h, pending)
        return out
