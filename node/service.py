"""One function per store operation: load state, call the rules, write the result.

Each write is one `BEGIN IMMEDIATE` transaction holding the state change, its
ledger entries (gapless sequence, terminal, clerk, balances after) and the
operation's result under the caller's operation id, so a repeated id returns
the first result and writes nothing. The CLI, the TUI and the sync runner
call this layer and nothing below it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from node import rules
from node.barcodes import Scan, parse_scan
from node.bounds import MAX_TERMINAL, Limits, check_text
from node.errors import BadInput, ExpiredItem, HoldUnavailable, NotInitialised, UnknownSku
from node.rules import BACK, FLOOR, Balance, Hold, Kind, Plan, Policy, SaleLine, Tender
from sync.kinds import parse_stamp, stamp, utcnow  # noqa: F401 - callers take them from here too
from node.store import backup, immediate, open_node_file

if TYPE_CHECKING:  # the wire's pydantic models cost a CLI call 150 ms to import
    from sync.models import Grant, LedgerEntry, PullResponse, StoreOpening

Clock = Callable[[], datetime]




@dataclass(frozen=True)
class Resolved:
    """What a scan or SKU means at this till: the item and how many units at what price."""

    sku: str
    name: str
    units: int  # a case scan means its pack quantity
    unit_price: int
    scan: Scan | None = None


_LEDGER_COLS = (
    "seq, store_id, op_id, kind, sku, qty, floor_delta, back_delta, quota_delta, held_delta, over_quota, "
    "ref, amount, on_hand_after, quota_after, held_after, terminal, clerk, at, detail"
)
_INSERT_LEDGER = f"INSERT INTO ledger ({_LEDGER_COLS}) VALUES ({', '.join('?' * 20)})"
_UPSERT_STOCK = (
    "INSERT INTO stock (sku, floor, back, quota, held, over_quota) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT(sku) DO UPDATE SET floor = excluded.floor, back = excluded.back, quota = excluded.quota, "
    "held = excluded.held, over_quota = excluded.over_quota"
)


def _same_kind(op_id: str, done: str, asked: str) -> None:
    """An operation id answers only for the kind it was first used for. An entry recovered from
    the hub's copy (kind `restored`) was this store's own operation: any retry of it is a repeat."""
    if done != asked and done != "restored":
        raise BadInput(f"Operation id {op_id} was already used for a {done}, not a {asked}.")


class Node:
    """A store's node file, used by one terminal and clerk."""

    def __init__(self, path: str | Path, *, terminal: str = "T1", clerk: str = "clerk",
                 clock: Clock = utcnow) -> None:
        self.path = Path(path)
        self.conn = open_node_file(self.path)
        self.terminal = terminal
        self.clerk = clerk
        self.clock = clock
        self._meta_cache: dict[str, str] | None = None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- setting up --------------------------------------------------------

    def meta(self) -> dict[str, str]:
        """The node's settings and sync progress, fresh: other processes write them too."""
        return {r["key"]: r["value"] for r in self.conn.execute("SELECT key, value FROM meta")}

    def _identity(self) -> dict[str, str]:
        # Store id and policy are read once: the sale path should not query them every time.
        if self._meta_cache is None:
            self._meta_cache = self.meta()
        return self._meta_cache

    def set_meta(self, **values: str) -> None:
        with immediate(self.conn):
            self.conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [(k, str(v)) for k, v in values.items()],
            )
        self._meta_cache = None

    @property
    def store_id(self) -> str:
        sid = self._identity().get("store_id")
        if sid is None:
            raise NotInitialised(f"{self.path} holds no store yet; run `backroom node init` first.")
        return sid

    @property
    def policy(self) -> Policy:
        return Policy(self._identity().get("policy", Policy.IN_HAND))

    @property
    def limits(self) -> Limits:
        """The store's bounds on a line's units and a counted figure (meta `max_line_qty`, `max_counted`)."""
        return Limits.from_meta(self._identity())

    def initialise(self, *, store_id: str, name: str, policy: Policy, items: Iterable[Mapping[str, Any]],
                   stock: Iterable[tuple[str, str, int, int]], locations: Iterable[tuple[str, str, str]] = ()) -> None:
        """Load a store: its catalog, and per SKU (sku, bin, on_hand, quota) from fixtures or the hub.

        The opening figures are written as `receive` entries so that the
        ledger alone explains every unit on hand.
        """
        if "store_id" in self.meta():  # fresh read
            raise BadInput(f"{self.path} already holds store {self.meta()['store_id']}; use a new file.")
        now = self.clock()
        with immediate(self.conn) as c:
            c.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("store_id", store_id), ("store_name", name), ("policy", str(Policy(policy))),
                 ("created_at", stamp(now))],
            )
            self._load_catalog(c, items)
            c.executemany("INSERT OR REPLACE INTO locations (id, name, kind) VALUES (?, ?, ?)", list(locations))
            balances: dict[str, Balance] = {}
            for sku, bin_, qty, quota in stock:
                b = balances.setdefault(sku, Balance(sku))
                b.bins[bin_] = b.bins.get(bin_, 0) + qty
                b.quota += quota
            plan = Plan(balances)
            for b in list(balances.values()):
                opening = Balance(b.sku)
                plan.balances[b.sku] = opening
                for bin_, qty in sorted(b.bins.items()):
                    if qty:
                        share = min(qty, b.quota - opening.quota)
                        plan.post(rules.Change(Kind.RECEIVE, b.sku, qty, ((bin_, qty),), quota_delta=share,
                                               ref="opening", detail={"opening": True}))
            first, last = self._persist(c, plan, "opening", stamp(now), store_id=store_id)
            c.execute("INSERT INTO operations (op_id, kind, result, at) VALUES ('opening', 'opening', ?, ?)",
                      (json.dumps({"op_id": "opening", "store_id": store_id, "seq": [first, last]}), stamp(now)))
        self._meta_cache = None

    def _load_catalog(self, c: sqlite3.Connection, items: Iterable[Mapping[str, Any]]) -> None:
        rows, codes = [], []
        for it in items:
            rows.append((it["sku"], it["gtin"], it["name"], it["price"], int(it.get("perishable", False)),
                         it.get("shelf_life_days"), it.get("case_gtin"), it.get("pack_qty", 1),
                         int(it.get("in_store", False)), it.get("safety_buffer", 0)))
            codes.append((it["gtin"].zfill(14), it["sku"], 1))
            if it.get("case_gtin"):
                codes.append((it["case_gtin"].zfill(14), it["sku"], it.get("pack_qty", 1)))
        c.executemany(
            "INSERT INTO items (sku, gtin, name, price, perishable, shelf_life_days, case_gtin, pack_qty, in_store, "
            "safety_buffer) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(sku) DO UPDATE SET gtin = excluded.gtin, "
            "name = excluded.name, price = excluded.price, perishable = excluded.perishable, "
            "shelf_life_days = excluded.shelf_life_days, case_gtin = excluded.case_gtin, pack_qty = excluded.pack_qty, "
            "in_store = excluded.in_store, safety_buffer = excluded.safety_buffer",
            rows,
        )
        c.executemany("INSERT OR REPLACE INTO barcodes (code, sku, pack_qty) VALUES (?, ?, ?)", codes)
        c.execute("INSERT INTO items_fts (items_fts) VALUES ('rebuild')")

    # -- the write path ----------------------------------------------------

    def _run(self, op_id: str, kind: str, work: Callable[[sqlite3.Connection, datetime], dict]) -> dict:
        if not isinstance(op_id, str) or not op_id.strip():
            raise BadInput("Every operation needs an operation id made by its caller.")
        store_id = self.store_id
        with immediate(self.conn) as c:
            # The id first, before any check of the request: a retry must get the first answer
            # even when the state it checked has moved on (a hold already sold, say).
            done = c.execute("SELECT kind, result FROM operations WHERE op_id = ?", (op_id,)).fetchone()
            if done is not None:
                _same_kind(op_id, done["kind"], kind)
                return json.loads(done["result"])
            # What goes into every entry must fit the wire, or the entry would stop the store's sync.
            check_text(op_id, "An operation id")
            check_text(self.terminal, "A terminal id", most=MAX_TERMINAL)
            check_text(self.clerk, "A clerk's name")
            now = self.clock()
            result = {"op_id": op_id, "store_id": store_id, **work(c, now)}
            c.execute("INSERT INTO operations (op_id, kind, result, at) VALUES (?, ?, ?, ?)",
                      (op_id, kind, json.dumps(result), result.get("at") or stamp(now)))
        return result

    def result_of(self, op_id: str, kind: str) -> dict | None:
        """The recorded result of an operation id, if it was done: an edge asks before it checks anything."""
        row = self.conn.execute("SELECT kind, result FROM operations WHERE op_id = ?", (op_id,)).fetchone()
        if row is None:
            return None
        _same_kind(op_id, row["kind"], kind)
        return json.loads(row["result"])

    def _balances(self, c: sqlite3.Connection, skus: Iterable[str]) -> dict[str, Balance]:
        skus = list(dict.fromkeys(skus))
        marks = ", ".join("?" * len(skus))
        got = {r[0]: Balance(r[0], {FLOOR: r[1], BACK: r[2]}, r[3], r[4], r[5]) for r in c.execute(
            f"SELECT sku, floor, back, quota, held, over_quota FROM stock WHERE sku IN ({marks})", skus)}
        if len(got) < len(skus):  # in the catalog but never stocked here: start from zero
            missing = [s for s in skus if s not in got]
            for (sku,) in c.execute(f"SELECT sku FROM items WHERE sku IN ({', '.join('?' * len(missing))})", missing):
                got[sku] = Balance(sku, {FLOOR: 0, BACK: 0})
        return got

    def _persist(self, c: sqlite3.Connection, plan: Plan, op_id: str, at: str,
                 store_id: str | None = None) -> tuple[int, int]:
        store_id = store_id or self.store_id
        touched = {p.change.sku for p in plan.entries}
        c.executemany(
            _UPSERT_STOCK,
            [(b.sku, b.bins.get(FLOOR, 0), b.bins.get(BACK, 0), b.quota, b.held, b.over_quota)
             for b in plan.balances.values() if b.sku in touched],
        )
        last = c.execute("SELECT coalesce(max(seq), 0) FROM ledger").fetchone()[0]
        rows = []
        for i, p in enumerate(plan.entries, start=last + 1):
            ch = p.change
            deltas = dict.fromkeys(rules.BINS, 0)
            for bin_, d in ch.bins:
                deltas[bin_] += d
            rows.append((i, store_id, op_id, str(ch.kind), ch.sku, ch.qty, deltas[FLOOR], deltas[BACK],
                         ch.quota_delta, ch.held_delta, ch.over_quota, ch.ref, ch.amount, p.on_hand, p.quota,
                         p.held, self.terminal, self.clerk, at, json.dumps(dict(ch.detail), sort_keys=True)))
        c.executemany(_INSERT_LEDGER, rows)
        if plan.opened_holds:
            c.executemany(
                "INSERT INTO holds (hold_id, sku, qty, expires_at, customer, terminal, clerk) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(h.hold_id, h.sku, h.qty, stamp(h.expires_at), h.customer, self.terminal, self.clerk)
                 for h in plan.opened_holds],
            )
        if plan.closed_holds:
            c.executemany("UPDATE holds SET status = ? WHERE hold_id = ?",
                          [(str(kind).removeprefix("hold_"), hid) for hid, kind in plan.closed_holds])
        return last + 1, last + len(rows)

    def _posted(self, c: sqlite3.Connection, plan: Plan, op_id: str, now: datetime) -> dict:
        at = stamp(now)
        first, last = self._persist(c, plan, op_id, at)
        e = plan.entries
        return {
            "at": at,
            "seq": [first, last],
            "entries": [
                {"kind": str(p.change.kind), "sku": p.change.sku, "qty": p.change.qty,
                 "over_quota": p.change.over_quota, "on_hand": p.on_hand, "quota": p.quota, "held": p.held}
                for p in e
            ],
            "over_quota": sum(p.change.over_quota for p in e),
        }

    def _open_holds(self, c: sqlite3.Connection, hold_ids: Iterable[str] | None = None) -> dict[str, Hold]:
        if hold_ids is None:
            rows = c.execute("SELECT hold_id, sku, qty, expires_at, customer FROM holds WHERE status = 'open'")
        else:
            ids = list(hold_ids)
            rows = c.execute(
                "SELECT hold_id, sku, qty, expires_at, customer FROM holds WHERE status = 'open' "
                f"AND hold_id IN ({', '.join('?' * len(ids))})", ids)
        return {r[0]: Hold(r[0], r[1], r[2], parse_stamp(r[3]), r[4]) for r in rows}

    # -- operations --------------------------------------------------------

    def sell(self, op_id: str, lines: list[SaleLine], tender: Tender | str = Tender.CASH, *,
             confirm_found: bool = False) -> dict:
        """A sale; `confirm_found` is the clerk's word that units far past the book are really in hand."""
        tender = Tender(tender)
        policy = self.policy
        limits = self.limits

        def work(c: sqlite3.Connection, now: datetime) -> dict:
            n = c.execute(
                "INSERT INTO terminals (terminal, last_receipt) VALUES (?, 1) ON CONFLICT(terminal) "
                "DO UPDATE SET last_receipt = last_receipt + 1 RETURNING last_receipt", (self.terminal,)
            ).fetchone()[0]
            receipt = f"{self.store_id}-{self.terminal}-{n:06d}"
            hold_ids = [ln.hold_id for ln in lines if ln.hold_id]
            holds = self._open_holds(c, hold_ids) if hold_ids else {}
            plan = rules.sell(self._balances(c, [ln.sku for ln in lines]), lines, policy=policy,
                              receipt=receipt, tender=tender, holds=holds, now=now, confirm_found=confirm_found,
                              limits=limits)
            posted = self._posted(c, plan, op_id, now)
            return {"receipt": receipt, "tender": str(tender), "total": sum(p.change.amount for p in plan.entries),
                    "lines": [{"sku": ln.sku, "qty": ln.qty, "unit_price": ln.unit_price, "hold_id": ln.hold_id}
                              for ln in lines], **posted}

        return self._run(op_id, "sale", work)

    def return_items(self, op_id: str, sku: str, qty: int, *, resellable: bool = True,
                     receipt: str | None = None, bin_: str = BACK) -> dict:
        def work(c: sqlite3.Connection, now: datetime) -> dict:
            sold = None
            if receipt is not None:
                row = c.execute(
                    "SELECT sum(CASE WHEN kind IN ('sale', 'hold_converted') THEN qty ELSE 0 END), "
                    "max(CASE WHEN kind IN ('sale', 'hold_converted') THEN json_extract(detail, '$.unit_price') END), "
                    "sum(CASE WHEN kind = 'return' THEN qty ELSE 0 END) FROM ledger WHERE ref = ? AND sku = ?",
                    (receipt, sku)).fetchone()
                if row[0]:
                    sold = rules.Sold(row[0], row[1], row[2] or 0)
            price = self._price(c, sku)
            plan = rules.return_items(self._balances(c, [sku]), sku, qty, resellable=resellable,
                                      unit_price=price, receipt=receipt, sold=sold, bin_=bin_, limits=self.limits)
            return {"refund": -plan.entries[0].change.amount, **self._posted(c, plan, op_id, now)}

        return self._run(op_id, "return", work)

    def receive(self, op_id: str, sku: str, qty: int, *, bin_: str = BACK, delivery: str | None = None) -> dict:
        return self._simple(op_id, "receive", lambda c, now, b: rules.receive(b, sku, qty, bin_=bin_, delivery=delivery,
                                                                           limits=self.limits), [sku])

    def hold(self, op_id: str, sku: str, qty: int, *, ttl: timedelta = timedelta(hours=2), customer: str = "") -> dict:
        def work(c: sqlite3.Connection, now: datetime) -> dict:
            plan = rules.place_hold(self._balances(c, [sku]), op_id, sku, qty, now=now, ttl=ttl, customer=customer,
                                    limits=self.limits)
            h = plan.opened_holds[0]
            return {"hold_id": h.hold_id, "expires_at": stamp(h.expires_at), **self._posted(c, plan, op_id, now)}

        return self._run(op_id, "hold", work)

    def release_hold(self, op_id: str, hold_id: str) -> dict:
        def work(c: sqlite3.Connection, now: datetime) -> dict:
            holds = self._open_holds(c, [hold_id])
            skus = [h.sku for h in holds.values()]
            plan = rules.release_hold(self._balances(c, skus) if skus else {}, holds, hold_id, now=now)
            return {"hold_id": hold_id, **self._posted(c, plan, op_id, now)}

        return self._run(op_id, "hold_release", work)

    def expire_holds(self, op_id: str | None = None) -> dict:
        """Return the units of every hold past its time; the runner and any terminal may call it."""
        now = self.clock()
        due = self.conn.execute("SELECT 1 FROM holds WHERE status = 'open' AND expires_at <= ? LIMIT 1",
                                (stamp(now),)).fetchone()
        if due is None and op_id is None:
            # nothing to do, and no caller's id to answer for; a caller's id is always
            # recorded, so that asking again gives the same answer and writes nothing
            return {"expired": []}

        op_id = op_id or f"expire:{self.terminal}:{stamp(now)}"

        def work(c: sqlite3.Connection, now: datetime) -> dict:
            holds = self._open_holds(c)
            plan = rules.expire_holds(self._balances(c, [h.sku for h in holds.values()]) if holds else {},
                                      holds, now=now)
            return {"expired": [h for h, _ in plan.closed_holds], **self._posted(c, plan, op_id, now)}

        return self._run(op_id, "hold_expiry", work)

    def count(self, op_id: str, sku: str, bin_: str, counted: int, *, confirm_found: bool = False) -> dict:
        """A shelf count; `confirm_found` is the clerk's word that far more than the book is really there."""
        return self._simple(op_id, "count", lambda c, now, b: rules.count(
            b, sku, bin_, counted, confirm_found=confirm_found, limits=self.limits), [sku])

    def write_off(self, op_id: str, kind: Kind | str, sku: str, qty: int, *, bin_: str = FLOOR,
                  reason: str = "") -> dict:
        kind = Kind(kind)
        return self._simple(op_id, str(kind),
                            lambda c, now, b: rules.write_off(b, kind, sku, qty, bin_=bin_, reason=reason,
                                                              limits=self.limits), [sku])

    def move(self, op_id: str, sku: str, qty: int, *, from_bin: str, to_bin: str) -> dict:
        return self._simple(op_id, "move",
                            lambda c, now, b: rules.move(b, sku, qty, from_bin=from_bin, to_bin=to_bin,
                                                         limits=self.limits), [sku])

    def transfer_out(self, op_id: str, sku: str, qty: int, *, to_location: str, transfer_id: str | None = None,
                     hub_ordered: bool = False, bin_: str = BACK) -> dict:
        return self._simple(
            op_id, "transfer_out",
            lambda c, now, b: rules.transfer_out(b, transfer_id or op_id, sku, qty, to_location=to_location,
                                                 hub_ordered=hub_ordered, bin_=bin_, limits=self.limits), [sku])

    def transfer_in(self, op_id: str, transfer_id: str, sku: str, qty: int, *, from_location: str,
                    bin_: str = BACK) -> dict:
        """Receive a transfer the hub told this node about (a pull), exactly as it was sent."""
        def plan(c: sqlite3.Connection, now: datetime, b: dict[str, Balance]) -> Plan:
            row = c.execute("SELECT transfer_id, sku, qty, from_location, status FROM incoming_transfers "
                            "WHERE transfer_id = ?", (transfer_id,)).fetchone()
            expected = rules.Incoming(row[0], row[1], row[2], row[3]) if row else None
            applied = self._applied(c, Kind.TRANSFER_IN, transfer_id) or (row is not None and row[4] == "received")
            p = rules.transfer_in(b, transfer_id, sku, qty, from_location=from_location, expected=expected,
                                  already_applied=applied, bin_=bin_)
            c.execute("UPDATE incoming_transfers SET status = 'received' WHERE transfer_id = ?", (transfer_id,))
            return p

        return self._simple(op_id, "transfer_in", plan, [sku])

    def apply_grant(self, op_id: str, grant_id: str, sku: str, qty: int) -> dict:
        """A quota grant pulled from the hub, applied once and only as the hub sent it (see note_grants)."""
        def plan(c: sqlite3.Connection, now: datetime, b: dict[str, Balance]) -> Plan:
            row = c.execute("SELECT grant_id, sku, qty FROM grants WHERE grant_id = ?", (grant_id,)).fetchone()
            p = rules.apply_grant(b, grant_id, sku, qty, pulled=rules.PulledGrant(*row) if row else None,
                                  already_applied=self._applied(c, Kind.QUOTA_GRANTED, grant_id))
            c.execute("UPDATE grants SET status = 'applied' WHERE grant_id = ?", (grant_id,))
            return p

        return self._simple(op_id, "quota_granted", plan, [sku])

    def pulled_grant(self, grant_id: str) -> rules.PulledGrant | None:
        row = self.conn.execute("SELECT grant_id, sku, qty FROM grants WHERE grant_id = ?", (grant_id,)).fetchone()
        return rules.PulledGrant(*row) if row else None

    def note_grants(self, grants: Iterable[Grant]) -> list[rules.PulledGrant]:
        """Keep grants as a pull brought them; the ones to apply now (new, or pulled before and not applied).

        A grant id seen before with other content is not a repeat (a hub restored
        from an old copy can reissue an id): it is recorded as a problem for ops,
        not applied and not dropped in silence.
        """
        with immediate(self.conn) as c:
            for g in grants:
                pulled = rules.PulledGrant(g.grant_id, g.sku, g.qty)
                row = c.execute("SELECT grant_id, sku, qty FROM grants WHERE grant_id = ?", (g.grant_id,)).fetchone()
                news = rules.grant_news(rules.PulledGrant(*row) if row else None, pulled)
                if news == "new":
                    c.execute("INSERT INTO grants (grant_id, sku, qty) VALUES (?, ?, ?)", (g.grant_id, g.sku, g.qty))
                elif news == "conflict":
                    self._problem(c, "grant_conflict", g.grant_id,
                                  f"The hub sent grant {g.grant_id} for {g.qty} of {g.sku}, but this store already "
                                  f"has grant {g.grant_id} for {row[2]} of {row[1]}; it was not applied. Ask ops.")
            rows = c.execute("SELECT grant_id, sku, qty FROM grants WHERE status = 'pulled' ORDER BY rowid").fetchall()
        return [rules.PulledGrant(*r) for r in rows]

    def _problem(self, c: sqlite3.Connection, kind: str, ref: str | None, message: str) -> None:
        seen = c.execute("SELECT 1 FROM problems WHERE kind = ? AND ref IS ? AND message = ?",
                         (kind, ref, message)).fetchone()
        if seen is None:
            c.execute("INSERT INTO problems (at, kind, ref, message) VALUES (?, ?, ?, ?)",
                      (stamp(self.clock()), kind, ref, message))

    def record_problem(self, kind: str, ref: str | None, message: str) -> None:
        """Something the node could not do by itself, kept for the status line and ops (once per message)."""
        with immediate(self.conn) as c:
            self._problem(c, kind, ref, message)

    def problems(self, limit: int = 20) -> list[dict]:
        return [dict(r) for r in self.conn.execute(
            "SELECT id, at, kind, ref, message FROM problems ORDER BY id DESC LIMIT ?", (limit,))]

    def release_quota(self, op_id: str, sku: str, qty: int, *, request_id: str | None = None) -> dict:
        return self._simple(
            op_id, "quota_released",
            lambda c, now, b: rules.release_quota(b, op_id, sku, qty, request_id=request_id), [sku])

    def _simple(self, op_id: str, kind: str, make_plan: Callable[[sqlite3.Connection, datetime, dict], Plan],
                skus: list[str]) -> dict:
        def work(c: sqlite3.Connection, now: datetime) -> dict:
            return self._posted(c, make_plan(c, now, self._balances(c, skus)), op_id, now)

        return self._run(op_id, kind, work)

    @staticmethod
    def _applied(c: sqlite3.Connection, kind: Kind, ref: str) -> bool:
        return c.execute("SELECT 1 FROM ledger WHERE kind = ? AND ref = ?", (str(kind), ref)).fetchone() is not None

    # -- reading -----------------------------------------------------------

    def _price(self, c: sqlite3.Connection, sku: str) -> int:
        row = c.execute("SELECT price FROM items WHERE sku = ?", (sku,)).fetchone()
        if row is None:
            raise UnknownSku(f"SKU {sku} is not in this store's catalog.")
        return row[0]

    def resolve(self, code: str, *, today: date | None = None, for_sale: bool = True) -> Resolved:
        """A scan (or a typed SKU) as the item, units and price it stands for at this till.

        An expired perishable is refused only `for_sale`: looking it up or
        writing it off as expired must still work.
        """
        code = code.strip()
        if code.upper().startswith("SKU"):
            row = self.conn.execute("SELECT sku, name, price FROM items WHERE sku = ?", (code.upper(),)).fetchone()
            if row is None:
                raise UnknownSku(f"SKU {code} is not in this store's catalog.")
            return Resolved(row[0], row[1], 1, row[2])
        scan = parse_scan(code)
        row = self.conn.execute(
            "SELECT i.sku, i.name, i.price, b.pack_qty, i.perishable FROM barcodes b JOIN items i ON i.sku = b.sku "
            "WHERE b.code = ?", (scan.lookup_key,)).fetchone()
        if row is None:
            raise UnknownSku(f"Barcode {scan.raw} is not an item this store sells.")
        today = today or self.clock().date()
        if for_sale and row[4] and scan.expiry is not None and scan.expiry < today:
            raise ExpiredItem(f"{row[1]} expired on {scan.expiry:%Y-%m-%d}; it cannot be sold. Write it off as expired.")
        price = scan.embedded_price if scan.embedded_price is not None else row[2]
        return Resolved(row[0], row[1], row[3], price, scan)

    def lookup(self, code: str) -> dict:
        """Everything a clerk needs to answer "can you check in the back?"."""
        r = self.resolve(code, for_sale=False)
        c = self.conn
        item = dict(c.execute("SELECT * FROM items WHERE sku = ?", (r.sku,)).fetchone())
        s = c.execute("SELECT floor, back, quota, held, over_quota FROM stock WHERE sku = ?", (r.sku,)).fetchone()
        figures = dict(s) if s else {"floor": 0, "back": 0, "quota": 0, "held": 0, "over_quota": 0}
        holds = [dict(h) for h in c.execute(
            "SELECT hold_id, qty, expires_at, customer, terminal, clerk FROM holds WHERE sku = ? AND status = 'open' "
            "ORDER BY expires_at", (r.sku,))]
        chain = [dict(x) for x in c.execute(
            "SELECT cs.location, coalesce(l.name, cs.location) AS name, coalesce(l.kind, '') AS kind, cs.on_hand, "
            "cs.available, cs.as_of FROM chain_stock cs LEFT JOIN locations l ON l.id = cs.location "
            "WHERE cs.sku = ? ORDER BY cs.location", (r.sku,))]
        incoming = [dict(x) for x in c.execute(
            "SELECT transfer_id, from_location, qty FROM incoming_transfers WHERE sku = ? AND status = 'in_transit'",
            (r.sku,))]
        return {**item, **figures, "on_hand": figures["floor"] + figures["back"], "scan_units": r.units,
                "scan_price": r.unit_price, "holds": holds, "chain": chain, "incoming": incoming}

    def search(self, prefix: str, limit: int = 20) -> list[dict]:
        """Items whose name has words starting with what the clerk typed, in name order.

        Ranking every hit of a short prefix costs tens of milliseconds over a
        large catalog; the first hits, sorted by name, answer a clerk as well.
        """
        words = [w for w in "".join(ch if ch.isalnum() else " " for ch in prefix).split() if w]
        if not words:
            return []
        match = " ".join(f'"{w}"*' for w in words)
        rows = [dict(r) for r in self.conn.execute(
            "SELECT i.sku, i.name, i.price, coalesce(s.floor, 0) AS floor, coalesce(s.back, 0) AS back, "
            "coalesce(s.quota, 0) AS quota FROM (SELECT rowid FROM items_fts WHERE items_fts MATCH ? LIMIT ?) f "
            "JOIN items i ON i.rowid = f.rowid LEFT JOIN stock s ON s.sku = i.sku", (match, max(limit * 5, 100)))]
        return sorted(rows, key=lambda r: r["name"].lower())[:limit]

    def balance(self, sku: str) -> Balance:
        b = self._balances(self.conn, [sku])
        if sku not in b:
            raise UnknownSku(f"SKU {sku} is not in this store's catalog.")
        return b[sku]

    def ledger(self, *, after: int = 0, limit: int = 100) -> list[dict]:
        rows = self.conn.execute(f"SELECT {_LEDGER_COLS} FROM ledger WHERE seq > ? ORDER BY seq LIMIT ?",
                                 (after, limit))
        return [{**dict(r), "detail": json.loads(r["detail"])} for r in rows]

    def last_seq(self) -> int:
        return self.conn.execute("SELECT coalesce(max(seq), 0) FROM ledger").fetchone()[0]

    def backup(self, dest: str | Path) -> Path:
        return backup(self.conn, dest)

    # -- parked sales ------------------------------------------------------

    def park_sale(self, park_id: str, lines: list[SaleLine]) -> None:
        with immediate(self.conn) as c:
            c.execute("INSERT OR REPLACE INTO parked_sales (park_id, terminal, clerk, lines, parked_at) "
                      "VALUES (?, ?, ?, ?, ?)", (park_id, self.terminal, self.clerk,
                                                 json.dumps([asdict(ln) for ln in lines]), stamp(self.clock())))

    def parked_sales(self) -> list[dict]:
        return [{**dict(r), "lines": [SaleLine(**ln) for ln in json.loads(r["lines"])]} for r in self.conn.execute(
            "SELECT park_id, terminal, clerk, lines, parked_at FROM parked_sales ORDER BY parked_at")]

    def recall_sale(self, park_id: str) -> list[SaleLine]:
        """Take a parked sale back (any terminal may); it is no longer parked."""
        with immediate(self.conn) as c:
            row = c.execute("SELECT lines FROM parked_sales WHERE park_id = ?", (park_id,)).fetchone()
            if row is None:
                raise BadInput(f"There is no parked sale {park_id}.")
            c.execute("DELETE FROM parked_sales WHERE park_id = ?", (park_id,))
        return [SaleLine(**ln) for ln in json.loads(row[0])]

    def open_hold(self, hold_id: str) -> Hold:
        hold = self._open_holds(self.conn, [hold_id]).get(hold_id)
        if hold is None:
            raise HoldUnavailable(f"Hold {hold_id} is not open (unknown, already released, sold or expired).")
        return hold

    def open_holds(self, sku: str | None = None) -> list[dict]:
        q = "SELECT hold_id, sku, qty, expires_at, customer, terminal, clerk FROM holds WHERE status = 'open'"
        args: tuple = ()
        if sku:
            q += " AND sku = ?"
            args = (sku,)
        return [dict(r) for r in self.conn.execute(q + " ORDER BY expires_at", args)]

    # -- sync ----------------------------------------------------------------

    def record_pull(self, resp: PullResponse) -> None:
        """Keep what a pull brought (catalog, locations, chain picture) and its cursor, in one transaction."""
        with immediate(self.conn) as c:
            if resp.catalog:
                self._load_catalog(c, (it.model_dump() for it in resp.catalog))
            if resp.locations:
                c.executemany("INSERT OR REPLACE INTO locations (id, name, kind) VALUES (?, ?, ?)",
                              [(loc.id, loc.name, loc.kind) for loc in resp.locations])
            # What is on its way here; a transfer already received keeps its status.
            c.executemany(
                "INSERT INTO incoming_transfers (transfer_id, from_location, sku, qty) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (transfer_id) DO NOTHING",
                [(t.transfer_id, t.from_location, t.sku, t.qty) for t in resp.transfers])
            c.executemany(
                "INSERT OR REPLACE INTO chain_stock (location, sku, on_hand, available, as_of) VALUES (?, ?, ?, ?, ?)",
                [(x.location, x.sku, x.on_hand, x.available, x.as_of) for x in resp.chain_stock])
            c.execute("INSERT INTO meta (key, value) VALUES ('pull_cursor', ?) "
                      "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (str(resp.cursor),))

    def restore(self, opening: StoreOpening) -> None:
        """A replaced machine: take the hub's copy of this store's ledger and replay it.

        Entries are written exactly as the store first wrote them, so the hub
        sees the same hashes; balances, open holds and receipt counters are
        derived from them.
        """
        if "store_id" in self.meta():
            raise BadInput(f"{self.path} already holds store {self.meta()['store_id']}; restore into a new file.")
        last = opening.ledger[-1].seq if opening.ledger else 0
        with immediate(self.conn) as c:
            c.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                          [("store_id", opening.store_id), ("store_name", opening.name), ("policy", opening.policy),
                           ("created_at", stamp(self.clock())), ("pushed_seq", str(last))])
            self._load_catalog(c, (it.model_dump() for it in opening.catalog))
            c.executemany("INSERT OR REPLACE INTO locations (id, name, kind) VALUES (?, ?, ?)",
                          [(loc.id, loc.name, loc.kind) for loc in opening.locations])
            self._replay(c, opening.ledger)
        self._meta_cache = None

    def restore_tail(self, entries: list[LedgerEntry]) -> int:
        """A node restored from an old copy: append the hub's copy of the entries this file lacks.

        The entries must continue this ledger exactly (the next sequences, this
        store's); they are written as the hub holds them and the state they
        imply is derived as `restore` does. Returns how many were appended.
        """
        if not entries:
            return 0
        store_id = self.store_id
        with immediate(self.conn) as c:
            last = c.execute("SELECT coalesce(max(seq), 0) FROM ledger").fetchone()[0]
            seqs = [e.seq for e in entries]
            if seqs != list(range(last + 1, last + 1 + len(entries))):
                raise BadInput(f"The hub's entries {seqs[0]}..{seqs[-1]} do not continue this ledger, "
                               f"which ends at seq {last}.")
            if any(e.store_id != store_id for e in entries):
                raise BadInput(f"The hub's entries are not all store {store_id}'s; nothing was restored.")
            self._replay(c, entries)
            c.execute("INSERT INTO meta (key, value) VALUES ('pushed_seq', ?) "
                      "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (str(seqs[-1]),))
        self._meta_cache = None
        return len(entries)

    def _replay(self, c: sqlite3.Connection, entries: Iterable[LedgerEntry]) -> None:
        """Write the hub's copy of entries as they are, and the state they imply on top of this file's."""
        entries = list(entries)
        balances = self._balances(c, {e.sku for e in entries}) if entries else {}
        receipts = {r[0]: r[1] for r in c.execute("SELECT terminal, last_receipt FROM terminals")}
        opened: dict[str, tuple] = {}
        closed: dict[str, str] = {}
        grants: list[tuple] = []
        arrived: list[tuple] = []
        rows = []
        for e in entries:
            b = balances.setdefault(e.sku, Balance(e.sku, {FLOOR: 0, BACK: 0}))
            rules.apply_change(b, rules.Change(
                Kind(e.kind), e.sku, e.qty, ((FLOOR, e.floor_delta), (BACK, e.back_delta)),
                quota_delta=e.quota_delta, held_delta=e.held_delta, over_quota=e.over_quota))
            if e.kind == Kind.HOLD:
                opened[e.ref] = (e.ref, e.sku, e.qty, e.detail.get("expires_at"), e.detail.get("customer", ""),
                                 e.terminal, e.clerk)
            elif e.kind in (Kind.HOLD_RELEASED, Kind.HOLD_EXPIRED):
                closed[e.ref] = str(e.kind).removeprefix("hold_")
            elif e.kind == Kind.HOLD_CONVERTED:
                closed[e.detail.get("hold_id")] = "converted"
            elif e.kind == Kind.QUOTA_GRANTED and e.ref:
                grants.append((e.ref, e.sku, e.qty))
            elif e.kind == Kind.TRANSFER_IN and e.ref:
                arrived.append((e.ref, e.detail.get("from", ""), e.sku, e.qty))
            if e.kind in rules.SOLD and e.ref and e.ref.count("-") >= 2:
                n = int(e.ref.rsplit("-", 1)[1])
                receipts[e.terminal] = max(receipts.get(e.terminal, 0), n)
            rows.append(tuple(e.model_dump(mode="json")[k] if k != "detail" else json.dumps(e.detail, sort_keys=True)
                              for k in _LEDGER_COLS.replace(" ", "").split(",")))
        c.executemany(_INSERT_LEDGER, rows)
        c.executemany(_UPSERT_STOCK, [(b.sku, b.bins[FLOOR], b.bins[BACK], b.quota, b.held, b.over_quota)
                                      for b in balances.values()])
        c.executemany("INSERT OR IGNORE INTO holds (hold_id, sku, qty, expires_at, customer, terminal, clerk) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?)", list(opened.values()))
        c.executemany("UPDATE holds SET status = ? WHERE hold_id = ?", [(st, h) for h, st in closed.items()])
        c.executemany("INSERT INTO terminals (terminal, last_receipt) VALUES (?, ?) ON CONFLICT(terminal) "
                      "DO UPDATE SET last_receipt = max(last_receipt, excluded.last_receipt)", list(receipts.items()))
        c.executemany("INSERT INTO grants (grant_id, sku, qty, status) VALUES (?, ?, ?, 'applied') "
                      "ON CONFLICT(grant_id) DO UPDATE SET status = 'applied'", grants)
        c.executemany("INSERT INTO incoming_transfers (transfer_id, from_location, sku, qty, status) "
                      "VALUES (?, ?, ?, ?, 'received') ON CONFLICT(transfer_id) DO UPDATE SET status = 'received'",
                      arrived)
        c.executemany("INSERT OR IGNORE INTO operations (op_id, kind, result, at) VALUES (?, 'restored', ?, ?)",
                      [(r[2], json.dumps({"op_id": r[2], "restored": True}), r[18]) for r in rows])


DEFAULT_QUOTA_SHARE = 0.7  # of each SKU's unbuffered stock, the store's to sell offline


def opening_quota(on_hand: int, safety_buffer: int, share: float = DEFAULT_QUOTA_SHARE) -> int:
    """The store's opening quota: a share of what is left after the safety buffer."""
    return int(max(0, on_hand - safety_buffer) * share)


def initialise_from_chain(node: Node, chain: Any, store_id: str, *, policy: Policy = Policy.IN_HAND,
                          quota_share: float = DEFAULT_QUOTA_SHARE) -> None:
    """Set a node up as one store of a fixtures chain (see fixtures.chain), without a hub."""
    location = next((loc for loc in chain.locations if loc.id == store_id and loc.kind == "store"), None)
    if location is None:
        stores = ", ".join(loc.id for loc in chain.stores())
        raise BadInput(f"The demo chain has no store {store_id}; choose one of {stores}.")
    by_sku: dict[str, dict[str, int]] = {}
    for line in chain.stock(store_id):
        by_sku.setdefault(line.sku, {})[line.bin] = line.qty
    stock = []
    for sku, bins in by_sku.items():
        quota = opening_quota(sum(bins.values()), chain.item(sku).safety_buffer, quota_share)
        for bin_, qty in sorted(bins.items()):
            # a SKU's quota is given once; Node.initialise spreads it over the bins
            stock.append((sku, bin_, qty, quota))
            quota = 0
    node.initialise(store_id=store_id, name=location.name, policy=policy,
                    items=(asdict(it) for it in chain.catalog), stock=stock,
                    locations=[(loc.id, loc.name, loc.kind) for loc in chain.locations])
