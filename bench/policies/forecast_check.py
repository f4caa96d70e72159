"""The balancer's forecasts held against `hub.rules.demand` itself, on sampled spots.

`check(book, ...)` runs once a simulated day (at noon): for a few spots drawn
at random it calls `hub.rules.demand.forecast` on the spot's full record (every
sale the hub heard, its online span, the promo calendar) and keeps (used,
exact); for the first of them it also makes the profile afresh, from scratch
(`profile` below: the sales in the window, promos divided out, and hours seen
counted in closed form), and keeps its largest difference from
`hub.rules.demand.hourly_profile`. The first shows what the book's caching costs
in accuracy; the second that its arithmetic is the hub's.
"""

from __future__ import annotations

from bisect import bisect_left

from hub.rules import demand as hub_demand
from policies.forecast import WEEK, DemandBook, factor, smoothed


def seen(book: DemandBook, a: int, b: int) -> list[float]:
    """Hours observed per hour of the week in ticks [a, b), counted afresh."""
    out = [0.0] * WEEK
    if b <= a:
        return out
    tph = book.tph
    full, rest = divmod(b - a, WEEK * tph)
    if full:
        out = [float(full)] * WEEK
    t, end = a, a + rest
    while t < end:
        nxt = min((t // tph + 1) * tph, end)
        out[(t // tph + book.off) % WEEK] += (nxt - t) / tph
        t = nxt
    return out


def profile(book: DemandBook, i: int, hours: list[float], lo: int, hi: int) -> list[float] | None:
    """hub.rules.demand.hourly_profile of spot i's sales in [lo, hi), given its store's hours seen."""
    if sum(hours) <= 0:
        return None
    ticks, qtys, cuts = book.ticks[i], book.qtys[i], book._cuts(i)
    sold = [0.0] * WEEK
    for j in range(bisect_left(ticks, lo), bisect_left(ticks, hi)):
        t = ticks[j]
        sold[(t // book.tph + book.off) % WEEK] += qtys[j] / factor(cuts, t) if cuts else qtys[j]
    return smoothed(sold, hours)


def check(book: DemandBook, now: int, heard_until: list[int], since: int, used: list[float], n: int = 6) -> None:
    at = book.scn.at
    picks = [i for i in (book.rng.randrange(book.n) for _ in range(4 * n)) if book.ticks[i]][:n]
    for j, i in enumerate(picks):
        sku, loc = book.spot_names(i)
        hi = now if loc is None else min(heard_until[i // book.K], now)
        sales = [(at(t), q) for t, q in zip(book.ticks[i], book.qtys[i])]
        online = [(at(since), at(hi))]
        exact = hub_demand.forecast(sales, online, now=at(now), horizon=book.window, promos=book.promos,
                                    sku=sku, location=loc)
        book.dev_used.append((used[i], exact))
        if j == 0:
            ref = hub_demand.hourly_profile(sales, online, now=at(now), promos=book.promos, sku=sku, location=loc)
            lo = max(since, now - now % book.tph - book.hist_ticks)
            mine = profile(book, i, seen(book, lo, hi), lo, hi)
            if ref is not None and mine is not None:
                book.dev_profile = max(book.dev_profile, max(abs(x - y) for x, y in zip(ref, mine)))
