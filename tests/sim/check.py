"""The invariants, checked after every step of the simulation (incrementally: ledgers only grow).

Per SKU, with S the stores, L every location (stores and the warehouse):

(a) Conservation. Units that entered (the opening at every location,
    deliveries, resellable returns, count-ups) are exactly those still on a
    book, gone (sold, written off, counted down) or in transit between stores:

        Σ_L (hub_share + in_flight + reserved - shortfall)        the hub's side, as the hub has it
      + Σ_S (quota + held)                                        the stores' side, as each store has it now
      + Σ_S pending                                               hub-side units of entries the hub lacks
      + sold + written_off + counted_down + in_transit
     == opening + received + returned_resellable + counted_up

    where an entry's hub-side delta is `on_hand_delta - quota_delta -
    held_delta` (hub.rules) and `pending` sums it over a store's entries
    past the hub's copy: positive for a release not yet credited, negative
    for an over-quota sale not yet settled. It holds because each hub
    position satisfies `on_hand + shortfall == quota + held + in_flight +
    hub_share + reserved` over the hub's copy, and the store's live quota,
    held and on-hand differ from that copy by exactly the unpushed deltas.
    `reserved` includes web orders (committed reservations). The right-hand
    side and `sold ... in_transit` are the world's own tallies of what
    happened, kept by the driver, not read from any ledger.

(b) Every figure is non-negative: quota, held, in_flight, hub_share,
    reserved, shortfall and on_hand at the hub; quota, held and each bin at
    each store.

(c) Each store's ledger is gapless (seq 1..n) and its balances-after match
    the running sums; each hub copy is a prefix of the store's ledger
    (same hashes, same entries), and `next_seq` never goes back; the hub
    applied each (store, seq) at most once; each store applied each grant
    at most once and answered each release request at most once; a hub
    grant is `applied` exactly when the hub's copy holds its quota_granted
    entry; grant numbers are gapless per store.

(d) No promise twice. At each hub position: the equation balances; its
    on_hand, quota and held equal the hub's copy of the store's ledger;
    `reserved` equals the open reservations there and `in_flight` the grants
    in flight; `shortfall` is at most the over-quota recorded in the hub's
    copy, is never there while the hub still has a share (`shortfall > 0`
    implies `hub_share == 0`, so nothing was promised past zero), and the
    open reservations marked at risk cover `min(shortfall, reserved)`. At
    each store: Σ ledger deltas == balances, and open holds sum to `held`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from hub.rules import OPEN

if TYPE_CHECKING:
    from tests.sim.world import World

FIGS = ("on_hand", "quota", "held", "in_flight", "hub_share", "reserved", "shortfall")


class Violation(AssertionError):
    pass


class _Sums:
    __slots__ = ("on_hand", "quota", "held", "floor", "back", "over", "hub_side")

    def __init__(self) -> None:
        self.on_hand = self.quota = self.held = self.floor = self.back = self.over = self.hub_side = 0

    def add(self, e) -> None:  # noqa: ANN001 - a LedgerEntry
        oh = e.floor_delta + e.back_delta
        self.on_hand += oh
        self.quota += e.quota_delta
        self.held += e.held_delta
        self.floor += e.floor_delta
        self.back += e.back_delta
        self.over += e.over_quota
        self.hub_side += oh - e.quota_delta - e.held_delta


_EMPTY = _Sums()


class Checker:
    def __init__(self, world: World) -> None:
        self.w = world
        stores = world.stores
        self.store_len = dict.fromkeys(stores, 0)
        self.hub_len = dict.fromkeys(stores, 0)
        self.full: dict[str, dict[str, _Sums]] = {s: defaultdict(_Sums) for s in stores}
        self.prefix: dict[str, dict[str, _Sums]] = {s: defaultdict(_Sums) for s in stores}
        self.granted: dict[str, set[str]] = {s: set() for s in stores}  # grants a store applied
        self.answered: dict[str, set[str]] = {s: set() for s in stores}  # release requests a store answered
        self.hub_granted: set[str] = set()  # grant ids whose quota_granted entry the hub holds
        self.applied: set[tuple[str, int]] = set()
        self.applied_len = 0
        self.checks = 0
        # A hold is a promise of a unit on the shelf: never more held than on hand when it is placed.
        # Off by default until node.rules.place_hold checks it (see KNOWN_ISSUES in tests/test_simulation.py).
        self.holds_backed = world.holds_backed

    def fail(self, msg: str) -> None:
        raise Violation(msg)

    # -- (c) ledgers ---------------------------------------------------------------

    def _store_ledger(self, s: str) -> None:
        node = self.w.nodes[s]
        led = node.ledger
        n0 = self.store_len[s]
        if len(led) < n0:
            self.fail(f"{s}: ledger shrank from {n0} to {len(led)}")
        sums = self.full[s]
        for i in range(n0, len(led)):
            e = led[i]
            if e.seq != i + 1:
                self.fail(f"{s}: ledger entry #{i + 1} has seq {e.seq} (not gapless)")
            if e.store_id != s:
                self.fail(f"{s}: entry {e.seq} names store {e.store_id}")
            x = sums[e.sku]
            x.add(e)
            if (e.on_hand_after, e.quota_after, e.held_after) != (x.on_hand, x.quota, x.held):
                self.fail(f"{s}: entry {e.seq} says after=({e.on_hand_after},{e.quota_after},{e.held_after}), "
                          f"running sums are ({x.on_hand},{x.quota},{x.held})")
            if e.kind == "hold" and self.holds_backed and e.held_after > e.on_hand_after:
                self.fail(f"{s}: hold {e.ref} (seq {e.seq}) puts {e.held_after} of {e.sku} aside with only "
                          f"{e.on_hand_after} on the book: a promise no unit backs")
            if e.kind == "quota_granted":
                if e.ref in self.granted[s]:
                    self.fail(f"{s}: grant {e.ref} applied twice (again at seq {e.seq})")
                self.granted[s].add(e.ref)
                if e.ref not in self.w.hub.grants or self.w.hub.grants[e.ref].store_id != s:
                    self.fail(f"{s}: applied grant {e.ref} that the hub never made for it")
            rid = e.detail.get("request_id") if e.kind == "quota_released" else None
            if rid:
                if rid in self.answered[s]:
                    self.fail(f"{s}: release request {rid} answered twice (again at seq {e.seq})")
                self.answered[s].add(rid)
        self.store_len[s] = len(led)
        # Σ ledger deltas == balances; every figure non-negative; open holds sum to held.
        held_by_holds: dict[str, int] = {}
        for h in node.holds.values():
            held_by_holds[h.sku] = held_by_holds.get(h.sku, 0) + h.qty
        for sku, b in node.balances.items():
            x = sums[sku] if sku in sums else _EMPTY
            fl, bk = b.bins.get("floor", 0), b.bins.get("back", 0)
            if fl != x.floor or bk != x.back or b.quota != x.quota or b.held != x.held:
                self.fail(f"{s} {sku}: balance floor/back/quota/held=({fl},{bk},{b.quota},{b.held}) but the "
                          f"ledger sums to ({x.floor},{x.back},{x.quota},{x.held})")
            if min(fl, bk, b.quota, b.held) < 0:
                self.fail(f"{s} {sku}: negative figure floor={fl} back={bk} quota={b.quota} held={b.held}")
            if held_by_holds.get(sku, 0) != b.held:
                self.fail(f"{s} {sku}: open holds sum to {held_by_holds.get(sku, 0)}, held is {b.held}")

    def _hub_copy(self, s: str) -> None:
        hub, node = self.w.hub, self.w.nodes[s]
        nxt = hub.next_seq[s]
        have = hub.entries[s]
        n0 = self.hub_len[s]
        if nxt - 1 < n0:
            self.fail(f"hub: next_seq for {s} went back to {nxt} from {n0 + 1}")
        if nxt - 1 > len(node.ledger):
            self.fail(f"hub: holds {nxt - 1} entries of {s}, the store only wrote {len(node.ledger)}")
        if len(have) != nxt - 1:
            self.fail(f"hub: holds {len(have)} entries of {s} but next_seq is {nxt}")
        sums = self.prefix[s]
        for seq in range(n0 + 1, nxt):
            row = have.get(seq)
            mine = node.ledger[seq - 1]
            if row is None:
                self.fail(f"hub: copy of {s} lacks seq {seq} below next_seq {nxt}")
            if row[0] != self.w.hash_of(mine) or (row[1] is not mine and row[1] != mine):
                self.fail(f"hub: copy of {s} seq {seq} differs from the store's entry")
            sums[mine.sku].add(mine)
            if mine.kind == "quota_granted":
                self.hub_granted.add(mine.ref)
        self.hub_len[s] = nxt - 1

    # -- the whole check ---------------------------------------------------------------

    def check(self) -> None:
        self.checks += 1
        w, hub = self.w, self.w.hub
        for s in w.stores:
            self._store_ledger(s)
            self._hub_copy(s)
        log = hub.applied_log
        for i in range(self.applied_len, len(log)):
            if log[i] in self.applied:
                self.fail(f"hub: applied {log[i][0]} seq {log[i][1]} a second time")
            self.applied.add(log[i])
        self.applied_len = len(log)

        # grants: gapless numbers per store, status matches the hub's copy
        flying: dict[tuple[str, str], int] = defaultdict(int)
        per_store: dict[str, int] = defaultdict(int)
        for g in hub.grants.values():
            per_store[g.store_id] += 1
            if (g.status == "applied") != (g.grant_id in self.hub_granted):
                self.fail(f"hub: grant {g.grant_id} is {g.status} but its entry is "
                          f"{'' if g.grant_id in self.hub_granted else 'not '}in the hub's copy")
            if g.status == "in_flight":
                flying[(g.store_id, g.sku)] += g.qty
        for s in w.stores:
            if per_store.get(s, 0) != hub.next_grant_no[s] - 1:
                self.fail(f"hub: {s} has {per_store.get(s, 0)} grants, next grant_no {hub.next_grant_no[s]}")

        reserved: dict[tuple[str, str], int] = defaultdict(int)
        at_risk: dict[tuple[str, str], int] = defaultdict(int)
        for r in hub.reservations.values():
            if r.status in OPEN:
                reserved[(r.location, r.sku)] += r.qty
                if r.at_risk:
                    at_risk[(r.location, r.sku)] += r.qty

        # positions
        hub_side: dict[str, int] = defaultdict(int)
        for (loc, sku), p in hub.positions.items():
            where = f"hub {loc} {sku}"
            if min(p.on_hand, p.quota, p.held, p.in_flight, p.hub_share, p.reserved, p.shortfall) < 0:
                self.fail(f"{where}: a negative figure: {p}")
            if not p.balanced:
                self.fail(f"{where}: on_hand + shortfall != quota + held + in_flight + hub_share + reserved: {p}")
            if p.reserved != reserved.get((loc, sku), 0):
                self.fail(f"{where}: reserved {p.reserved}, open reservations {reserved.get((loc, sku), 0)}")
            if p.in_flight != flying.get((loc, sku), 0):
                self.fail(f"{where}: in_flight {p.in_flight}, grants in flight {flying.get((loc, sku), 0)}")
            if p.shortfall and p.hub_share:
                self.fail(f"{where}: shortfall {p.shortfall} while the hub still has a share {p.hub_share}")
            if at_risk.get((loc, sku), 0) < min(p.shortfall, p.reserved):
                self.fail(f"{where}: shortfall {p.shortfall} but only {at_risk.get((loc, sku), 0)} of "
                          f"{p.reserved} reserved marked at risk")
            if loc in self.prefix:
                x = self.prefix[loc][sku] if sku in self.prefix[loc] else _EMPTY
                if (p.on_hand, p.quota, p.held) != (x.on_hand, x.quota, x.held):
                    self.fail(f"{where}: on_hand/quota/held=({p.on_hand},{p.quota},{p.held}) but the hub's copy "
                              f"of the ledger sums to ({x.on_hand},{x.quota},{x.held})")
                if p.shortfall > x.over:
                    self.fail(f"{where}: shortfall {p.shortfall} beyond the over-quota recorded ({x.over})")
            elif loc == w.warehouse:
                if p.on_hand != w.warehouse_opening.get(sku, 0):
                    self.fail(f"{where}: on_hand {p.on_hand}, the warehouse never moved stock")
            hub_side[sku] += p.hub_share + p.in_flight + p.reserved - p.shortfall
        for key, q in flying.items():
            if q and key not in hub.positions:
                self.fail(f"hub: grants in flight to {key} with no position")

        # (a) conservation per SKU
        for sku in w.skus:
            lhs = hub_side.get(sku, 0)
            for s in w.stores:
                b = w.nodes[s].balances[sku]
                full = self.full[s][sku].hub_side if sku in self.full[s] else 0
                pre = self.prefix[s][sku].hub_side if sku in self.prefix[s] else 0
                lhs += b.quota + b.held + (full - pre)
            t = w.tally[sku]
            lhs += t["sold"] + t["written_off"] + t["counted_down"] + t["in_transit"]
            rhs = t["opening"] + t["received"] + t["returned"] + t["counted_up"]
            if lhs != rhs:
                self.fail(f"conservation {sku}: units accounted {lhs} != units that entered {rhs} (tally {dict(t)})")

    # -- after the heal -------------------------------------------------------------------

    def converged(self) -> None:
        w, hub = self.w, self.w.hub
        for s in w.stores:
            node = w.nodes[s]
            if hub.next_seq[s] != len(node.ledger) + 1:
                self.fail(f"heal: hub holds {hub.next_seq[s] - 1} of {s}'s {len(node.ledger)} entries")
            for sku, b in node.balances.items():
                p = hub.positions.get((s, sku))
                have = (p.on_hand, p.quota, p.held) if p else (0, 0, 0)
                if have != (b.on_hand, b.quota, b.held):
                    self.fail(f"heal: hub {s} {sku} on_hand/quota/held={have}, the store has "
                              f"({b.on_hand},{b.quota},{b.held})")
                if p is not None and p.in_flight:
                    self.fail(f"heal: hub {s} {sku} still has {p.in_flight} in flight")
        left = [g.grant_id for g in hub.grants.values() if g.status != "applied"]
        if left:
            self.fail(f"heal: grants never applied: {left}")
        asked = [r.request_id for r in hub.releases.values() if r.status != "answered"]
        if asked:
            self.fail(f"heal: release requests never answered: {asked}")
