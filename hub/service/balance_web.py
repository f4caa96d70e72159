"""What a balancer pass reads of the web shop: its sales by the hour, and its demand per SKU.

The web shop's sales are its orders: reservations committed (`ordered`,
`to_hand_over`, `done`), each at the hour its cart was taken (`created_at`: the
hub keeps no time of checkout, and a cart is held for minutes). A cancelled
order is left out, as a store's returns are taken off its sales: its units came
back to the hub share for the next customer, and the hub's records cannot tell
it from a cart let go before checkout (both are `cancelled`), which never was a
sale; an expired cart was none either.

A cart's fate is known once its hold is over, so a pass folds in only whole
hours that ended at least `SETTLE` ago, each hour once, as a store's entries
are folded (`fold_sales`): into `balance_sales` under the location `WEB`, and how
far it has read into `balance_stores.seq` (seconds since the epoch), both
written by the pass in one transaction. A cart held past `SETTLE` and committed
later, or an order cancelled after its hour was folded, is not seen.

The forecast (`hub.rules.forecasts.web_forecasts`) moves only when an hour is
folded in (about once an hour, as each store's is made again every
`refresh_every`), so it is made then, for every SKU, and kept in
`balance_demand` under `WEB`; the passes in between read what was kept, with the
stores' forecasts of the same SKUs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from hub.db import driver_sql
from hub.rules.demand import Promo
from hub.rules.forecasts import WEB, web_forecasts
from hub.service.balance_inputs import Folded, cached_demand, fetch, hour_of
from sync.kinds import parse_stamp, stamp

SETTLE = timedelta(hours=1)  # a cart is held 15 minutes unless the shop asks for longer
_ORDERS = ("ordered", "to_hand_over", "done")


def _hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def fold_web(conn: Connection, now: datetime, history: timedelta, folded: Folded) -> tuple[datetime, bool]:
    """Fold the web's orders of the hours settled since the last pass into `folded`; how far the web's
    sales are known, and whether this pass read any hour new."""
    oldest, to = _hour(now - history), _hour(now - SETTLE)
    got = driver_sql(conn, "SELECT seq FROM balance_stores WHERE store_id = ?", (WEB,)).first()
    done = max(oldest, datetime.fromtimestamp(got[0], UTC)) if got else oldest
    if to <= done:
        return done, False
    # No index on created_at: a scan of the reservations, but once an hour, when an hour settles.
    for sku, at, qty in fetch(conn, "SELECT sku, created_at, qty FROM reservations WHERE created_at >= ? AND "
                                    f"created_at < ? AND status IN ({', '.join('?' * len(_ORDERS))})",
                              (stamp(done), stamp(to), *_ORDERS)):
        hour = hour_of(at)
        if hour is not None and qty > 0:
            folded.units[(WEB, sku, hour)] += qty
    folded.seq[WEB] = int(to.timestamp())
    return to, True


def web_demand(conn: Connection, now: datetime, *, window: timedelta, history: timedelta, known_until: datetime,
               promos: list[Promo], folded: Folded, when) -> dict[str, float]:  # noqa: ANN001 - Forecasts.when
    """The web's demand per SKU over the window, from every hour of its sales kept and those just folded.

    Its sales count from the first hour the hub holds one: a web shop that began selling through
    the hub a week ago did not sell nothing the three weeks before."""
    rows = fetch(conn, "SELECT sku, hour, units FROM balance_sales WHERE store_id = ? AND hour >= ?",
                 (WEB, stamp(_hour(now - history))))
    rows += [(k, h, u) for (s, k, h), u in folded.units.items() if s == WEB]
    if not rows:
        return {}
    first = parse_stamp(min(h for _, h, _ in rows))
    return web_forecasts(rows, when, now=now, window=window, history=history, known=(first, known_until),
                         promos=promos)


def kept_web_demand(conn: Connection) -> dict[str, float]:
    return {k: d for (_, k), d in cached_demand(conn, store=WEB).items()}
