"""The invariants, checked against the production databases after every step of the simulation.

The checker reads the hub's database and every node file with plain SQLite
(no service code), and holds them to each other and to the world's truth.
Per SKU, with S the stores and L every location:

(a) Conservation. Units that entered (the opening everywhere, deliveries,
    resellable returns, count-ups) are exactly those on a book, gone (sold,
    written off, counted down) or on their way between stores:

        Σ_L (hub_share + in_flight + reserved - shortfall)     the hub's side, as the hub has it
      + Σ_S (quota + held) + Σ_S pending                       the stores' side, as each node has it
      + sold + written_off + counted_down + in_transit         the world's tally of what happened
      + shipped                                                (web orders handed over or sent off)
      + Σ on_hand_delta of entries a restore destroyed         (their events happened; no book has them)
     == opening + received + returned + counted_up
      + phantom                                (warehouse shipments and transfers a restored hub forgot)

    `pending` is the hub-side delta (`on_hand - quota - held`) of a store's
    entries past the hub's copy. A rogue store's own books are added on
    both sides.

(b) Nothing negative: no hub figure, no store bin, quota or hold; and at a
    store quota + held never exceeds on hand (held units are promised).

(c) Ledgers. Each store's ledger is gapless, names its store, and its
    balances-after are the running sums; its stock table is those sums and
    its open holds sum to `held`. The hub's copy of each store is a prefix
    of the store's ledger, entry for entry (same content hash), unless the
    hub recorded a divergence; `next_seq` never goes back but for a restore
    of the hub. A store applies each grant once and answers each release
    request once, and hands each web order over once, out of the hub's share
    (its quota and holds untouched).

(d) No promise twice. Each hub position balances
    (on_hand + shortfall == quota + held + in_flight + hub_share + reserved);
    its on_hand, quota and held are the sums of the hub's copy; `reserved`
    is the open reservations and orders there, `in_flight` the grants in
    flight; a shortfall means the hub share is spent, stays within the
    over-quota an honest store recorded, and the reservations marked at
    risk cover it. A grant is applied exactly when its own store's copy
    holds its entry; a release request is answered exactly when its own
    store's copy answers it; a transfer is received only by its own
    receiver; a web order the hub confirmed is never expired. A web order is
    done at a store only if that store's copy holds its hand-over; a done,
    cancelled or expired reservation never changes again (but for a restore
    of the hub); a shortfall stays within the over-quota the store recorded
    and the hand-overs the hub could not match to an order of that store.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from sync.models import LedgerEntry
from tests.sim import check_orders as orders

if TYPE_CHECKING:
    from tests.sim.world import World

OPEN = ("held", "ordered", "to_hand_over", "transfer")


class Violation(AssertionError):
    pass


class _Copy:
    """What the checker has read of one ledger: its length, per-SKU sums, and the references it made."""

    def __init__(self) -> None:
        self.n = 0
        self.sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])  # oh q h floor back over
        self.grants: set[str] = set()
        self.answered: set[str] = set()
        self.transfers_in: set[str] = set()
        self.handed: dict[str, tuple[str, int]] = {}  # web orders handed over: id -> (sku, units)

    def add(self, seq: int, kind: str, sku: str, floor: int, back: int, quota: int, held: int, over: int,
            ref: str | None, request_id: str | None) -> list[int]:
        s = self.sums[sku]
        s[0] += floor + back
        s[1] += quota
        s[2] += held
        s[3] += floor
        s[4] += back
        s[5] += over
        self.n = seq
        return s


class Checker:
    def __init__(self, world: World) -> None:
        self.w = world
        self._hub: sqlite3.Connection | None = None
        self._nodes: dict[str, sqlite3.Connection] = {}
        self.node_copy = {s: _Copy() for s in world.stores}
        self.hub_copy = {s: _Copy() for s in (*world.stores, world.rogue_store)}
        self.hashes: dict[str, dict[int, str]] = {s: {} for s in world.stores}
        self.next_seq_seen = dict.fromkeys(world.stores, 1)
        self.checks = 0
        # `PRAGMA data_version` changes when another connection commits to the file: a file
        # nobody wrote since the last check needs no second look.
        self._versions: dict[str, int] = {}
        self._hub_side: dict[str, int] = {}
        self.final: dict[str, str] = {}  # reservations seen done, cancelled or expired
        for s in world.stores:
            sync = world.nodes[s]["runner"].conn.execute("PRAGMA synchronous").fetchone()[0]
            if sync != 2:  # the power-loss model (a crash loses nothing committed) rests on this
                raise Violation(f"{s}: node file runs synchronous={sync}, not FULL")

    def fail(self, msg: str) -> None:
        raise Violation(msg)

    # -- connections ---------------------------------------------------------------------

    def hub(self) -> sqlite3.Connection:
        if self._hub is None:
            self._hub = sqlite3.connect(self.w.hub_path(), isolation_level=None)
        return self._hub

    def node(self, s: str) -> sqlite3.Connection:
        c = self._nodes.get(s)
        if c is None:
            c = self._nodes[s] = sqlite3.connect(self.w.node_path(s), isolation_level=None)
        return c

    def close(self) -> None:
        self._versions.clear()
        if self._hub is not None:
            self._hub.close()
            self._hub = None
        for c in self._nodes.values():
            c.close()
        self._nodes.clear()

    def release_node(self, s: str) -> None:
        c = self._nodes.pop(s, None)
        self._versions.pop(s, None)
        if c is not None:
            c.close()

    def store_restored(self, s: str) -> None:
        self.node_copy[s] = _Copy()
        self.hashes[s] = {}

    def hub_restored(self) -> None:
        self.hub_copy = {s: _Copy() for s in self.hub_copy}
        self.final = {}
        self.next_seq_seen = dict.fromkeys(self.next_seq_seen, 1)
        self.w.rogue.hub_restored()

    def hub_next_seq(self, s: str) -> int:
        return self.hub().execute("SELECT next_seq FROM locations WHERE id = ?", (s,)).fetchone()[0]

    @staticmethod
    def node_last_seq_of(path: Path) -> int:
        with sqlite3.connect(path) as c:
            n = c.execute("SELECT coalesce(max(seq), 0) FROM ledger").fetchone()[0]
        c.close()
        return n

    # -- (b), (c) at a store -------------------------------------------------------------------

    def _unchanged(self, name: str, c: sqlite3.Connection) -> bool:
        v = c.execute("PRAGMA data_version").fetchone()[0]
        if self._versions.get(name) == v:
            return True
        self._versions[name] = v
        return False

    def _store(self, s: str) -> None:
        c, cp = self.node(s), self.node_copy[s]
        if self._unchanged(s, c):
            return
        rows = c.execute(
            "SELECT seq, store_id, op_id, kind, sku, qty, floor_delta, back_delta, quota_delta, held_delta, "
            "over_quota, ref, amount, on_hand_after, quota_after, held_after, terminal, clerk, at, detail "
            "FROM ledger WHERE seq > ? ORDER BY seq", (cp.n,)).fetchall()
        for r in rows:
            seq, store, kind, sku, ref = r[0], r[1], r[3], r[4], r[11]
            if seq != cp.n + 1:
                self.fail(f"{s}: ledger entry after {cp.n} has seq {seq} (not gapless)")
            if store != s:
                self.fail(f"{s}: entry {seq} names store {store}")
            detail = json.loads(r[19])
            sums = cp.add(seq, kind, sku, r[6], r[7], r[8], r[9], r[10], ref, None)
            if (r[13], r[14], r[15]) != tuple(sums[:3]):
                self.fail(f"{s}: entry {seq} says after=({r[13]},{r[14]},{r[15]}), running sums are {sums[:3]}")
            if kind == "quota_granted":
                if ref in cp.grants:
                    self.fail(f"{s}: grant {ref} applied twice (again at seq {seq})")
                cp.grants.add(ref)
            if kind == "order_handed_over":
                orders.node_hand_over(self.fail, s, cp.handed, seq, ref, sku, r[5], r[6], r[7], r[8], r[9])
            rid = detail.get("request_id") if kind == "quota_released" else None
            if rid:
                if rid in cp.answered:
                    self.fail(f"{s}: release request {rid} answered twice (again at seq {seq})")
                cp.answered.add(rid)
            keys = ("seq", "store_id", "op_id", "kind", "sku", "qty", "floor_delta", "back_delta", "quota_delta",
                    "held_delta", "over_quota", "ref", "amount", "on_hand_after", "quota_after", "held_after",
                    "terminal", "clerk", "at")
            self.hashes[s][seq] = LedgerEntry(**dict(zip(keys, r[:19], strict=True)), detail=detail).content_hash()
        held = dict(c.execute("SELECT sku, sum(qty) FROM holds WHERE status = 'open' GROUP BY sku").fetchall())
        for sku, fl, bk, q, h in c.execute("SELECT sku, floor, back, quota, held FROM stock"):
            x = cp.sums[sku] if sku in cp.sums else [0] * 6
            if (fl, bk, q, h) != (x[3], x[4], x[1], x[2]):
                self.fail(f"{s} {sku}: stock floor/back/quota/held=({fl},{bk},{q},{h}) but the ledger sums to "
                          f"({x[3]},{x[4]},{x[1]},{x[2]})")
            if min(fl, bk, q, h) < 0:
                self.fail(f"{s} {sku}: a negative figure: floor={fl} back={bk} quota={q} held={h}")
            if q + h > fl + bk:
                self.fail(f"{s} {sku}: quota {q} + held {h} exceed the {fl + bk} on hand: a promise no unit backs")
            if held.get(sku, 0) != h:
                self.fail(f"{s} {sku}: open holds sum to {held.get(sku, 0)}, held is {h}")

    # -- (c), (d) at the hub ----------------------------------------------------------------------

    def _hub_copy(self, s: str, diverged: bool) -> None:
        hub, cp = self.hub(), self.hub_copy[s]
        nxt = self.hub_next_seq(s)
        if nxt < self.next_seq_seen.get(s, 1):
            self.fail(f"hub: next_seq for {s} went back to {nxt} from {self.next_seq_seen[s]}")
        self.next_seq_seen[s] = nxt
        rows = hub.execute(
            "SELECT seq, hash, kind, sku, on_hand_delta, quota_delta, held_delta, over_quota, body FROM store_entries "
            "WHERE store_id = ? AND seq > ? ORDER BY seq", (s, cp.n)).fetchall()
        for seq, h, kind, sku, oh, q, hd, over, body in rows:
            if seq != cp.n + 1:
                self.fail(f"hub: copy of {s} jumps from {cp.n} to {seq}")
            mine = self.hashes.get(s, {}).get(seq)
            behind = mine is None and s in self.w.restored  # a restored store gets these back from the hub
            if s in self.hashes and not diverged and not behind and mine != h:
                what = "lacks" if mine is None else "holds another"
                self.fail(f"hub: holds entry {seq} of {s}, which the store {what} (and no divergence was recorded)")
            ref = json.loads(body).get("ref") if kind in ("quota_granted", "transfer_in") else None
            rid = json.loads(body).get("detail", {}).get("request_id") if kind == "quota_released" else None
            cp.add(seq, kind, sku, 0, oh, q, hd, over, ref, rid)
            if kind == "quota_granted":
                cp.grants.add(ref)
            if rid:
                cp.answered.add(rid)
            if kind == "transfer_in":
                cp.transfers_in.add(ref)
            if kind == "order_handed_over":
                e = json.loads(body)
                cp.handed[e.get("ref")] = (sku, e["qty"])
        if cp.n != nxt - 1:
            self.fail(f"hub: holds {cp.n} entries of {s} but next_seq is {nxt}")

    def check(self) -> None:
        self.checks += 1
        w, hub = self.w, self.hub()
        for s in w.stores:
            self._store(s)
        if self._unchanged("hub", hub):
            self._conservation(self._hub_side)
            return
        diverged = {r[0] for r in hub.execute("SELECT DISTINCT store_id FROM incidents WHERE kind = 'divergence'")}
        for s in self.hub_copy:
            self._hub_copy(s, s in diverged)

        grants: dict[tuple[str, str], int] = defaultdict(int)
        for gid, store, sku, qty, status in hub.execute("SELECT grant_id, store_id, sku, qty, status FROM grants"):
            if status == "in_flight":
                grants[(store, sku)] += qty
            if (status == "applied") != (gid in self.hub_copy[store].grants):
                self.fail(f"hub: grant {gid} of {store} is {status}, and {store}'s copy "
                          f"{'holds' if gid in self.hub_copy[store].grants else 'lacks'} its entry")
        for rid, store, status in hub.execute("SELECT request_id, store_id, status FROM release_requests"):
            if (status == "answered") != (rid in self.hub_copy[store].answered):
                self.fail(f"hub: release request {rid} of {store} is {status}, and {store}'s copy "
                          f"{'answers' if rid in self.hub_copy[store].answered else 'does not answer'} it")
        for tid, to, status in hub.execute("SELECT transfer_id, to_location, status FROM transfers"):
            if status == "received" and to in self.hub_copy and tid not in self.hub_copy[to].transfers_in:
                self.fail(f"hub: transfer {tid} to {to} is received, but {to}'s copy never booked it in")

        reserved: dict[tuple[str, str], int] = defaultdict(int)
        at_risk: dict[tuple[str, str], int] = defaultdict(int)
        status_of, loc_of = {}, {}
        for rid, loc, sku, qty, status, risky in hub.execute(
                "SELECT reservation_id, location, sku, qty, status, at_risk FROM reservations"):
            status_of[rid], loc_of[rid] = status, loc
            if status in OPEN:
                reserved[(loc, sku)] += qty
                if risky:
                    at_risk[(loc, sku)] += qty
            orders.reservation(self.fail, self.final, w.stores, self.hub_copy, rid, loc, status)
        unmatched = orders.unmatched(w.stores, self.hub_copy, status_of, loc_of)
        for rid, x in w.web.items():
            if x["status"] == "ordered" and status_of.get(rid) == "expired":
                self.fail(f"hub: web order {rid} was confirmed as an order, and has expired since")

        hub_side: dict[str, int] = defaultdict(int)
        for loc, sku, oh, q, h, fl, share, res, short in hub.execute(
                "SELECT location, sku, on_hand, quota, held, in_flight, hub_share, reserved, shortfall FROM positions"):
            where = f"hub {loc} {sku}"
            if min(oh, q, h, fl, share, res, short) < 0:
                self.fail(f"{where}: a negative figure: on_hand={oh} quota={q} held={h} in_flight={fl} "
                          f"hub_share={share} reserved={res} shortfall={short}")
            if oh + short != q + h + fl + share + res:
                self.fail(f"{where}: on_hand {oh} + shortfall {short} != quota {q} + held {h} + in_flight {fl} + "
                          f"hub_share {share} + reserved {res}")
            if res != reserved.get((loc, sku), 0):
                self.fail(f"{where}: reserved {res}, open reservations and orders {reserved.get((loc, sku), 0)}")
            if fl != grants.get((loc, sku), 0):
                self.fail(f"{where}: in_flight {fl}, grants in flight {grants.get((loc, sku), 0)}")
            if short and share:
                self.fail(f"{where}: shortfall {short} while the hub still has a share of {share}")
            if at_risk.get((loc, sku), 0) < min(short, res):
                self.fail(f"{where}: shortfall {short} but only {at_risk.get((loc, sku), 0)} of {res} reserved "
                          "is marked at risk")
            if loc in self.hub_copy:
                x = self.hub_copy[loc].sums.get(sku, [0] * 6)
                if (oh, q, h) != tuple(x[:3]):
                    self.fail(f"{where}: on_hand/quota/held=({oh},{q},{h}) but the hub's copy sums to {x[:3]}")
                # A restored hub settles the grants it forgot like over-quota: only then may it exceed.
                allowed = x[5] + unmatched.get((loc, sku), 0)
                if loc in w.stores and short > allowed and not w.stats["fault:hub_restore"]:
                    self.fail(f"{where}: shortfall {short} beyond the over-quota {loc} recorded ({x[5]}) and "
                              f"its unmatched hand-overs ({unmatched.get((loc, sku), 0)})")
            hub_side[sku] += share + fl + res - short
        self._hub_side = hub_side
        for key, q in grants.items():
            if q and key[1] not in dict.fromkeys(w.skus):
                self.fail(f"hub: grants in flight to {key} of a SKU nobody stocks")
        self._conservation(hub_side)

    def _conservation(self, hub_side: dict[str, int]) -> None:
        w = self.w
        rogue = w.rogue.figures(self.hub_copy[w.rogue_store].n)
        lost: dict[str, int] = defaultdict(int)
        for s in w.stores:
            for e in w.orphans[s]:
                lost[e["sku"]] += e["floor_delta"] + e["back_delta"]
        for sku in w.skus:
            lhs = hub_side.get(sku, 0) + lost.get(sku, 0)
            for s in w.stores:
                full = self.node_copy[s].sums.get(sku, [0] * 6)
                pre = self.hub_copy[s].sums.get(sku, [0] * 6)
                if self.hub_copy[s].n > self.node_copy[s].n:  # a restored store, not yet caught up: the hub's
                    lhs += pre[1] + pre[2]                    # copy is the longer book
                else:
                    lhs += full[1] + full[2] + (full[0] - full[1] - full[2]) - (pre[0] - pre[1] - pre[2])
            oh, q, h, pending = rogue.get(sku, (0, 0, 0, 0))
            lhs += q + h + pending
            t = w.tally[sku]
            lhs += t["sold"] + t["written_off"] + t["counted_down"] + t["in_transit"] + t["shipped"]
            rhs = t["opening"] + t["received"] + t["returned"] + t["counted_up"] + oh + t["phantom"]
            if lhs != rhs:
                self.fail(f"conservation {sku}: units accounted {lhs} != units that entered {rhs} (tally {dict(t)}, "
                          f"lost in restores {lost.get(sku, 0)})")

    # -- after the heal ------------------------------------------------------------------------------

    def converged(self) -> None:
        w, hub = self.w, self.hub()
        for s in w.stores:
            n = self.node_copy[s].n
            if self.hub_next_seq(s) != n + 1:
                self.fail(f"heal: the hub holds {self.hub_next_seq(s) - 1} of {s}'s {n} entries")
            for sku, fl, bk, q, h in self.node(s).execute("SELECT sku, floor, back, quota, held FROM stock"):
                p = hub.execute("SELECT on_hand, quota, held, in_flight FROM positions WHERE location = ? AND sku = ?",
                                (s, sku)).fetchone() or (0, 0, 0, 0)
                if p[:3] != (fl + bk, q, h):
                    self.fail(f"heal: hub {s} {sku} on_hand/quota/held={p[:3]}, the store has ({fl + bk},{q},{h})")
                if p[3]:
                    self.fail(f"heal: hub {s} {sku} still has {p[3]} in flight")
        marks = ", ".join("?" * len(w.stores))
        left = hub.execute(f"SELECT grant_id FROM grants WHERE status != 'applied' AND store_id IN ({marks})",
                           w.stores).fetchall()
        if left:
            self.fail(f"heal: grants never applied: {[r[0] for r in left]}")
        asked = hub.execute(f"SELECT request_id FROM release_requests WHERE status = 'open' AND store_id IN ({marks})",
                            w.stores).fetchall()
        if asked:
            self.fail(f"heal: release requests never answered: {[r[0] for r in asked]}")
