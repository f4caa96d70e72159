"""The report's arithmetic, on figures the SQL side has summed: plain functions, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from hub.report.days import hours_between
from hub.report.model import Kpis, RollForward, Tile
from sync.kinds import Kind

# Each movement of the roll-forward and the entry kinds whose on-hand change it sums. Every kind that can
# move on hand is named; `other` takes what none names, so the roll-forward ties out whatever arrives.
MOVEMENTS: dict[str, tuple[Kind, ...]] = {
    "received": (Kind.RECEIVE,),
    "transfers_in": (Kind.TRANSFER_IN,),
    "transfers_out": (Kind.TRANSFER_OUT,),
    "sold": (Kind.SALE, Kind.HOLD_CONVERTED),
    "returned": (Kind.RETURN,),
    "counts": (Kind.COUNT,),
    "written_off": (Kind.DAMAGED, Kind.EXPIRED, Kind.LOST),
    "handed_over": (Kind.ORDER_HANDED_OVER,),
}
NAMED = tuple(k for kinds in MOVEMENTS.values() for k in kinds)
COLUMNS = (*MOVEMENTS, "other")
WRITE_OFF_REASONS = ("damaged", "expired", "lost", "count")


def movement_of(kind: str) -> str:
    """The roll-forward column an entry of `kind` lands in."""
    for column, kinds in MOVEMENTS.items():
        if kind in kinds:
            return column
    return "other"


def closing(opening: int, movements: Mapping[str, int]) -> int:
    return opening + sum(movements.get(c, 0) for c in COLUMNS)


def roll_forward(store_id: str, opening: int, movements: Mapping[str, int], ledger_closing: int, *, skus: int,
                 zero_rows: int, negative_rows: int, partial: bool) -> RollForward:
    """A store's roll-forward; `ties` says whether it closes on the ledger's own sum, read apart."""
    close = closing(opening, movements)
    return RollForward(store_id=store_id, opening=opening, **{c: int(movements.get(c, 0)) for c in COLUMNS},
                       closing=close, ledger_closing=ledger_closing, ties=close == ledger_closing, skus=skus,
                       zero_rows=zero_rows, negative_rows=negative_rows, partial=partial)


def chain_roll_forward(rows: Sequence[RollForward]) -> RollForward:
    """The chain's row: every store's summed (a partial store makes it partial)."""
    total = {c: sum(getattr(r, c) for r in rows) for c in COLUMNS}
    return roll_forward("chain", sum(r.opening for r in rows), total, sum(r.ledger_closing for r in rows),
                        skus=sum(r.skus for r in rows), zero_rows=sum(r.zero_rows for r in rows),
                        negative_rows=sum(r.negative_rows for r in rows), partial=any(r.partial for r in rows))


def pct(part: float, whole: float) -> float | None:
    return None if not whole else round(100.0 * part / whole, 2)


def kpis(stores: Iterable[Mapping[str, int]], *, at_risk_orders: int, divergences: int) -> Kpis:
    """The day's KPIs from each store's sums (keys as the SQL side names them)."""
    t: dict[str, int] = {}
    for s in stores:
        for k, v in s.items():
            if isinstance(v, int):
                t[k] = t.get(k, 0) + v
    shrink_units = t.get("counts", 0) + t.get("written_off", 0)
    shrink_value = t.get("shrink_value", 0)
    return Kpis(sales_units=t.get("sold_units", 0), sales_revenue=t.get("revenue", 0),
                returns_units=t.get("returned_units", 0), returns_value=t.get("refunds", 0),
                shrink_units=shrink_units, shrink_value=shrink_value,
                shrink_pct=pct(shrink_value, t.get("revenue", 0)),
                accuracy_pct=pct(t.get("accurate_skus", 0), t.get("counted_skus", 0)),
                counted_skus=t.get("counted_skus", 0), over_quota_units=t.get("over_quota_sold", 0),
                at_risk_orders=at_risk_orders, divergences=divergences)


TILES = (("sales_units", "Sales, units", "units"), ("sales_revenue", "Sales, revenue", "money"),
         ("returns_units", "Returns, units", "units"), ("shrink_units", "Net shrink, units", "units"),
         ("shrink_value", "Net shrink, retail", "money"), ("shrink_pct", "Shrink, % of sales", "pct"),
         ("accuracy_pct", "Record accuracy", "pct"), ("over_quota_units", "Over-quota sales", "units"),
         ("at_risk_orders", "At-risk orders", "count"), ("divergences", "Divergences", "count"),
         ("refused_walk_ins", "Walk-ins turned away", "units"))


def tiles(now: Kpis, before: Kpis | None) -> list[Tile]:
    out = []
    for key, label, unit in TILES:
        v = getattr(now, key)
        p = getattr(before, key) if before is not None else None
        change = None if v is None or p is None else round(v - p, 2)
        out.append(Tile(key=key, label=label, value=v, previous=p, change=change, unit=unit))
    return out


def out_of_stock(opening: int, deltas: Iterable[tuple[str, int]], lo: str, hi: str) -> tuple[str | None, float]:
    """Walk one SKU's day at one store (entries in ledger order): when it first went from stock to none
    (None if it never did) and the hours of [lo, hi) it spent at zero or below."""
    level, since = opening, (lo if opening <= 0 else None)
    sold_out_at, hours = None, 0.0
    for at, delta in deltas:
        after = level + delta
        if level > 0 and after <= 0:
            since = at
            sold_out_at = sold_out_at or at
        elif level <= 0 and after > 0 and since is not None:
            hours += hours_between(since, at)
            since = None
        level = after
    if since is not None:
        hours += hours_between(since, hi)
    return sold_out_at, round(hours, 2)


def out_of_stock_crossings(opening: int, crossings: Iterable[tuple[str, int]], lo: str, hi: str
                           ) -> tuple[str | None, float]:
    """out_of_stock from only the entries at which the level crossed zero (at, level after), in ledger order:
    between two crossings the level stays on one side of zero, which is all the walk looks at, so each step
    from one crossing's level to the next walks exactly as the entries in between would."""
    deltas, level = [], opening
    for at, after in crossings:
        deltas.append((at, after - level))
        level = after
    return out_of_stock(opening, deltas, lo, hi)


def money(minor: int | float | None) -> str:
    if minor is None:
        return "n/a"
    return f"{minor / 100:,.2f}"


def changes(old: Mapping, new: Mapping) -> list[str]:
    """What a re-issue changed, in sentences: the stores whose data were late or whose end-of-day snapshot came,
    the KPIs and roll-forwards that moved."""
    out = []
    before = {c["store_id"]: c for c in old.get("completeness", [])}
    for c in new.get("completeness", []):
        b = before.get(c["store_id"])
        if b and b["last_seq"] != c["last_seq"]:
            out.append(f"Store {c['store_id']}: entries up to {c['last_seq']} now held (were up to {b['last_seq']})"
                       + ("; its day is now complete." if b["partial"] and not c["partial"] else "."))
        if b and b.get("snapshot_note", "missing") != c.get("snapshot_note", "missing"):
            out.append(f"Store {c['store_id']}: end-of-day snapshot {c.get('snapshot_note', 'missing')} "
                       f"(was {b.get('snapshot_note', 'missing')}).")
    ok, nk = old.get("kpis", {}), new.get("kpis", {})
    for key, label, _ in TILES:
        if ok.get(key) != nk.get(key):
            out.append(f"{label}: {ok.get(key)} -> {nk.get(key)}.")
    rows = {r["store_id"]: r for r in old.get("roll_forward", [])}
    for r in new.get("roll_forward", []):
        o = rows.get(r["store_id"])
        if o and o["closing"] != r["closing"]:
            out.append(f"Roll-forward {r['store_id']}: closing book {o['closing']} -> {r['closing']}.")
    return out or ["Nothing in the figures changed."]
