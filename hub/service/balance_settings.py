"""What ops tell the balancer: pins, switches, the promo calendar; and the transfers it proposes.

Each change is noted in `balance_dirty` in the same transaction, so the next
pass plans what it touched: the SKU (`sku:X`), every SKU at a store
(`store:S`), or everything (`*`, a promo for every SKU at every store).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection

from hub import rules
from hub.db import driver_sql, transact
from sync.kinds import parse_stamp, stamp

MAX_FACTOR = 100.0
REPEAT_AFTER = timedelta(days=1)  # a move ops accepted or dismissed is not proposed again before this
_PROMO_COLS = ("promo_id", "sku", "store_id", "starts_at", "ends_at", "factor", "note", "created_at")
_PROPOSAL_COLS = ("proposal_id", "from_location", "to_location", "sku", "qty", "reason", "status", "created_at",
                  "decided_at")


def _dirty(conn: Connection, key: str) -> None:
    driver_sql(conn, "INSERT INTO balance_dirty (key) VALUES (?) ON CONFLICT (key) DO NOTHING", (key,))


class BalanceSettingsOps:
    """Ops' settings for the balancer (a part of Hub)."""

    def _known_sku(self, conn: Connection, sku: str) -> None:
        if driver_sql(conn, "SELECT 1 FROM items WHERE sku = ?", (sku,)).first() is None:
            raise rules.Unknown(f"SKU {sku} is not in the chain's catalog.")

    def pin(self, store_id: str, sku: str, quota: int) -> dict:
        """Pin a store's quota of a SKU: each pass brings it to the pin (grants from the store's own
        hub share, release requests), and no band moves it until it is unpinned."""
        if quota < 0:
            raise rules.BadRequest(f"A pinned quota is 0 or more, not {quota}.")

        def tx(conn: Connection) -> dict:
            self._location(conn, store_id, "store")
            p = self._positions(conn, store_id, [sku])[sku]
            most = p.quota + p.in_flight + p.promisable  # holds and the web's orders are promised already
            if quota > most:
                raise rules.NotEnough(f"{store_id} has {most} of {sku} that may be its quota (of {p.on_hand} "
                                      f"on hand): a pin is at most that, not {quota}.")
            at = stamp(self.clock())
            driver_sql(conn, "INSERT INTO balance_pins (store_id, sku, quota, at) VALUES (?, ?, ?, ?) "
                             "ON CONFLICT (store_id, sku) DO UPDATE SET quota = excluded.quota, at = excluded.at",
                       (store_id, sku, quota, at))
            _dirty(conn, f"sku:{sku}")
            return {"store_id": store_id, "sku": sku, "pinned": quota, "at": at}
        return transact(self.engine, tx)

    def unpin(self, store_id: str, sku: str) -> dict:
        """Unpin; unpinning what is not pinned changes nothing, as switching the balancer on where it is on."""
        def tx(conn: Connection) -> dict:
            self._location(conn, store_id, "store")
            self._known_sku(conn, sku)
            if driver_sql(conn, "DELETE FROM balance_pins WHERE store_id = ? AND sku = ?", (store_id, sku)).rowcount:
                _dirty(conn, f"sku:{sku}")
            return {"store_id": store_id, "sku": sku, "pinned": None}
        return transact(self.engine, tx)

    def switch_balancer(self, scope: str, key: str, *, on: bool) -> dict:
        """Switch the balancer off (or back on) for a whole store or a whole SKU."""
        if scope not in ("store", "sku"):
            raise rules.BadRequest(f"The balancer is switched per store or per sku, not per {scope!r}.")

        def tx(conn: Connection) -> dict:
            if scope == "store":
                self._location(conn, key, "store")
            else:
                self._known_sku(conn, key)
            if on:
                driver_sql(conn, "DELETE FROM balance_off WHERE scope = ? AND key = ?", (scope, key))
            else:
                driver_sql(conn, "INSERT INTO balance_off (scope, key, at) VALUES (?, ?, ?) "
                                 "ON CONFLICT (scope, key) DO NOTHING", (scope, key, stamp(self.clock())))
            _dirty(conn, f"{scope}:{key}")
            return {scope: key, "balancer": "on" if on else "off"}
        return transact(self.engine, tx)

    def balancer_settings(self) -> dict:
        with self.consistent_reads.connect() as conn:
            pins = [{"store_id": s, "sku": k, "quota": q, "at": a} for s, k, q, a in driver_sql(
                conn, "SELECT store_id, sku, quota, at FROM balance_pins ORDER BY store_id, sku")]
            off = driver_sql(conn, "SELECT scope, key FROM balance_off ORDER BY scope, key").all()
        return {"pins": pins, "off": {"stores": [k for s, k in off if s == "store"],
                                      "skus": [k for s, k in off if s == "sku"]}}

    # -- the promo calendar ------------------------------------------------------------------------

    def add_promo(self, *, starts_at: datetime, ends_at: datetime, factor: float, sku: str | None = None,
                  store_id: str | None = None, note: str = "") -> dict:
        """A stretch of time when `sku` (None: every SKU) sells `factor` times its rate at `store_id` (None: all)."""
        if starts_at.tzinfo is None or ends_at.tzinfo is None:
            raise rules.BadRequest("A promo's start and end need a time zone (e.g. 2025-03-10T09:00:00+00:00).")
        if not starts_at < ends_at:
            raise rules.BadRequest(f"A promo ends after it starts: {stamp(starts_at)} is not before {stamp(ends_at)}.")
        if not 0 < factor <= MAX_FACTOR:
            raise rules.BadRequest(f"A promo's factor is above 0 and at most {MAX_FACTOR:g}, not {factor}.")

        def tx(conn: Connection) -> dict:
            if store_id is not None:
                self._location(conn, store_id, "store")
            if sku is not None:
                self._known_sku(conn, sku)
            row = (f"PR-{self.unique(6)}", sku, store_id, stamp(starts_at), stamp(ends_at), float(factor), note,
                   stamp(self.clock()))
            driver_sql(conn, f"INSERT INTO promos ({', '.join(_PROMO_COLS)}) VALUES ({', '.join('?' * 8)})", row)
            _dirty(conn, f"sku:{sku}" if sku else f"store:{store_id}" if store_id else "*")
            return dict(zip(_PROMO_COLS, row, strict=True))
        return transact(self.engine, tx)

    def promos(self, *, ended_too: bool = False, limit: int = 500) -> list[dict]:
        where = "" if ended_too else "WHERE ends_at > ? "
        with self.reads.connect() as conn:
            return [dict(zip(_PROMO_COLS, r, strict=True)) for r in driver_sql(
                conn, f"SELECT {', '.join(_PROMO_COLS)} FROM promos {where}ORDER BY starts_at, promo_id LIMIT ?",
                ((limit,) if ended_too else (stamp(self.clock()), limit)))]

    def delete_promo(self, promo_id: str) -> dict:
        def tx(conn: Connection) -> dict:
            row = driver_sql(conn, "SELECT sku, store_id FROM promos WHERE promo_id = ?", (promo_id,)).first()
            if row is None:
                raise rules.Unknown(f"There is no promo {promo_id}.")
            driver_sql(conn, "DELETE FROM promos WHERE promo_id = ?", (promo_id,))
            _dirty(conn, f"sku:{row[0]}" if row[0] else f"store:{row[1]}" if row[1] else "*")
            return {"promo_id": promo_id, "deleted": True}
        return transact(self.engine, tx)

    # -- transfer proposals ------------------------------------------------------------------------

    def proposals(self, status: str = "open", limit: int = 500) -> list[dict]:
        with self.reads.connect() as conn:
            return [dict(zip(_PROPOSAL_COLS, r, strict=True)) for r in driver_sql(
                conn, f"SELECT {', '.join(_PROPOSAL_COLS)} FROM transfer_proposals WHERE status = ? "
                      "ORDER BY created_at DESC, proposal_id LIMIT ?", (status, limit))]

    def decide_proposal(self, proposal_id: str, *, accept: bool) -> dict:
        """Ops accept a transfer proposal or dismiss it.

        From a warehouse the hub ships it at once: the units leave the warehouse's share and
        the receiving store's pull lists the transfer, which its clerk receives into quota.
        A store's units leave only by that store's own ledger: the hub grants the units, out of
        that store's hub share, to that store, and its clerk sends them (a transfer out of its
        quota, under the proposal's id) once its pull has applied the grant; its open requests
        for the SKU back are withdrawn, and for a day no pass asks it for that SKU back. Either
        way the balancer proposes the same move again only a day after it was decided
        (`REPEAT_AFTER`, kept by `balance_restraints`).
        """
        def tx(conn: Connection) -> dict:
            row = driver_sql(conn, "SELECT status, from_location, to_location, sku, qty FROM transfer_proposals "
                                   "WHERE proposal_id = ?", (proposal_id,)).first()
            if row is None:
                raise rules.Unknown(f"There is no transfer proposal {proposal_id}.")
            status, source, dest, sku, qty = row
            if status != "open":
                raise rules.Conflict(f"Transfer proposal {proposal_id} is {status} already.")
            now = stamp(self.clock())
            out = {"proposal_id": proposal_id, "status": "accepted" if accept else "dismissed"}
            if accept and self._location(conn, source).kind == "warehouse":
                ps = self._positions(conn, source, [sku])
                before = self._snapshot(ps)
                rules.send_transfer(ps[sku], qty)
                self._save(conn, before, ps.values(), now)
                driver_sql(conn, "INSERT INTO transfers (transfer_id, from_location, to_location, sku, qty, status, "
                                 "sent_at) VALUES (?, ?, ?, ?, ?, 'in_transit', ?)",
                           (proposal_id, source, dest, sku, qty, now))
                out["transfer"] = {"transfer_id": proposal_id, "status": "in_transit", "from_location": source,
                                   "to_location": dest, "sku": sku, "qty": qty}
            elif accept:
                out["grant"] = self._grant_in(conn, source, sku, qty)
                # An open request for the SKU back would take the units before the clerk sends them.
                driver_sql(conn, "UPDATE release_requests SET status = 'withdrawn' WHERE store_id = ? AND sku = ? "
                                 "AND status = 'open'", (source, sku))
                out["to_arrange"] = (f"{source} sends it once its pull applies grant {out['grant']['grant_id']}: "
                                     f"backroom node transfer out {sku} {qty} --to {dest} --transfer-id {proposal_id}")
            driver_sql(conn, "UPDATE transfer_proposals SET status = ?, decided_at = ? WHERE proposal_id = ?",
                       (out["status"], now, proposal_id))
            return out
        return transact(self.engine, tx)


def parse_time(text: str) -> datetime:
    """A promo's time as ops type it (ISO-8601 with a zone)."""
    try:
        return parse_stamp(text)
    except ValueError:
        raise rules.BadRequest(f"{text!r} is not a time: use ISO-8601, e.g. 2025-03-10T09:00:00+00:00.") from None
