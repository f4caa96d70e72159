"""The seeded chain of the balance bench: stores, SKUs, demand, outages, stock variants.

Everything comes from `random.Random(seed)`, so a seed gives the same scenario
on every machine. The full chain (issue 10):

- 20 stores whose sizes differ by x3 (1.0 to 3.0, shuffled), a warehouse and
  the web shop; 200 SKUs with Zipf popularity (exponent 1.1);
- 28 days in 5-minute ticks from Monday 2 November 2026; stores open 8-21;
  a daily rhythm (lunch and after-work peaks for stores, evenings for the web)
  and a weekly one (Saturday highest);
- walk-in demand: a store of mean size sells `store_units_per_day` (150) units a
  day; each store's taste for a SKU is its popularity times a lognormal factor
  (sigma 0.4, mean 1), which the stocking plan does not know;
- the web shop is 30% of all demand, with its own taste (sigma 0.4);
- Black Friday (27 November) at x4 for every store and the web, on the hub's
  promo calendar, with a chain-wide 6-hour outage (11:00-17:00) on that day;
- store outages: about 4 a week across the chain, started uniformly, lasting
  a lognormal time of median 3 h (sigma 1.0), from 15 minutes to 24 hours;
- 14 days of history before the run (the same rhythm, no outages): the sales
  the hub has already seen, for its forecast.

Stock variants, per SKU and location, in weeks of planned mean demand (the
chain's popularity, without local taste): `normal` 1-2 weeks (uniform per spot),
`scarce_07` 0.7 and `scarce_04` 0.4. A store is stocked for its walk-ins plus its
part (by size) of half the web's demand; the warehouse for the other half.
The opening stock is the cover; a delivery every Monday at 06:00 (warehouse
04:00) brings min(cover, 1) weeks, plus Black Friday's expected extra in its
week. Quantities are rounded stochastically, so a slow seller's mean is kept.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timezone

from policies.scenario import WEB, Scenario, Stock

START = datetime(2026, 11, 2, tzinfo=timezone.utc)  # a Monday
STORE_HOURS = [0, 0, 0, 0, 0, 0, 0, 0, 0.6, 0.8, 1.0, 1.2, 1.4, 1.3, 1.1, 1.1, 1.2, 1.4, 1.4, 1.1, 0.7, 0, 0, 0]
WEB_HOURS = [0.4, 0.25, 0.15, 0.1, 0.1, 0.15, 0.3, 0.6, 0.8, 0.9, 1.0, 1.1, 1.2, 1.1, 1.0, 1.0, 1.1, 1.2, 1.4,
             1.6, 1.8, 1.7, 1.2, 0.7]
STORE_DAYS = [0.85, 0.85, 0.9, 0.95, 1.15, 1.4, 0.9]  # Monday first
WEB_DAYS = [1.15, 1.0, 0.95, 0.95, 0.9, 0.85, 1.2]
VARIANTS = {"normal": (1.0, 2.0), "scarce_07": (0.7, 0.7), "scarce_04": (0.4, 0.4)}


@dataclass(frozen=True)
class ChainShape:
    stores: int = 20
    skus: int = 200
    days: int = 28
    zipf: float = 1.1
    store_units_per_day: float = 150.0
    web_fraction: float = 0.30
    web_stock_at_warehouse: float = 0.5
    taste_sigma: float = 0.4
    outages_per_week: float = 4.0
    outage_median_h: float = 3.0
    outage_sigma: float = 1.0
    black_friday_day: int | None = 25
    black_friday_factor: float = 4.0
    chain_outage_hours: tuple[int, int] = (11, 17)
    history_days: int = 14

    @classmethod
    def quick(cls) -> ChainShape:
        return cls(stores=6, skus=40, days=10, outages_per_week=3.0, black_friday_day=8, history_days=7)


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam < 30:
        limit, k, p = math.exp(-lam), 0, rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
        return k
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


def stochastic_round(rng: random.Random, x: float) -> int:
    whole = math.floor(x)
    return whole + (rng.random() < x - whole)


def generate(seed: int, shape: ChainShape = ChainShape()) -> Scenario:
    rng = random.Random(seed)
    n_s, n_k, tph, tpd = shape.stores, shape.skus, 12, 288
    sizes = [1.0 + 2.0 * i / max(1, n_s - 1) for i in range(n_s)]
    rng.shuffle(sizes)
    mean_size = sum(sizes) / n_s
    zipf = [1 / (k + 1) ** shape.zipf for k in range(n_k)]
    pop = [z / sum(zipf) for z in zipf]
    sig = shape.taste_sigma

    def taste() -> float:
        return math.exp(rng.gauss(-sig * sig / 2, sig))

    store_day = [shape.store_units_per_day * sz / mean_size for sz in sizes]  # mean units a day per store
    web_day = shape.web_fraction / (1 - shape.web_fraction) * sum(store_day)
    walk_w = [store_day[s] * pop[k] * taste() for s in range(n_s) for k in range(n_k)]
    web_w = [pop[k] * taste() for k in range(n_k)]
    walk_cum, web_cum = _cumulative(walk_w), _cumulative(web_w)
    walk_total, web_total = walk_cum[-1], web_cum[-1] * web_day
    sh = [h / sum(STORE_HOURS) for h in STORE_HOURS]
    wh_ = [h / sum(WEB_HOURS) for h in WEB_HOURS]
    sd = [d * 7 / sum(STORE_DAYS) for d in STORE_DAYS]
    wd = [d * 7 / sum(WEB_DAYS) for d in WEB_DAYS]
    bf = shape.black_friday_day

    def demand(first_day: int, days: int) -> list[tuple[int, int, int, int]]:
        out = []
        for d in range(first_day, first_day + days):
            f = shape.black_friday_factor if d == bf else 1.0
            for h in range(24):
                for sub in range(tph):
                    t = d * tpd + h * tph + sub
                    n = poisson(rng, walk_total * sh[h] * sd[d % 7] * f / tph)
                    for i in rng.choices(range(len(walk_w)), cum_weights=walk_cum, k=n) if n else ():
                        out.append((t, i // n_k, i % n_k, 1))
                    n = poisson(rng, web_total * wh_[h] * wd[d % 7] * f / tph)
                    for k in rng.choices(range(n_k), cum_weights=web_cum, k=n) if n else ():
                        out.append((t, WEB, k, 1))
        return out

    history = demand(-shape.history_days, shape.history_days)
    run = demand(0, shape.days)
    outages = _outages(rng, shape, n_s)
    promos = []
    if bf is not None and bf < shape.days:
        promos.append((None, None, bf * tpd, (bf + 1) * tpd, shape.black_friday_factor))

    # the stocking plan: weekly mean demand per spot, from popularity and size only
    share = shape.web_stock_at_warehouse
    weekly = {}
    for s in range(n_s):
        for k in range(n_k):
            weekly[s, k] = 7 * pop[k] * (store_day[s] + (1 - share) * web_day * sizes[s] / sum(sizes))
    for k in range(n_k):
        weekly[n_s, k] = 7 * pop[k] * share * web_day
    stock = {}
    for name, (lo, hi) in VARIANTS.items():
        vr = random.Random(f"{seed}:{name}")
        initial, deliveries = [], []
        for (loc, k), w in weekly.items():
            cover = vr.uniform(lo, hi)
            initial.append((loc, k, stochastic_round(vr, cover * w)))
            for monday in range(7, shape.days, 7):
                extra = (shape.black_friday_factor - 1) / 7 if bf is not None and monday <= bf < monday + 7 else 0
                q = stochastic_round(vr, min(cover, 1.0) * w * (1 + extra))
                hour = 4 if loc == n_s else 6
                if q:
                    deliveries.append((monday * tpd + hour * tph, loc, k, q))
        deliveries.sort(key=lambda r: r[0])
        stock[name] = Stock([r for r in initial if r[2]], deliveries)

    return Scenario(
        name=f"seed {seed}", start=START, tick_minutes=5, ticks=shape.days * tpd,
        stores=[f"S{s + 1:02d}" for s in range(n_s)], closes_hour=[21] * n_s, opens_hour=[8] * n_s,
        warehouse="W", skus=[f"K{k + 1:03d}" for k in range(n_k)],
        demand=run, history=history, outages=outages, promos=promos, stock=stock,
    )


def _cumulative(ws: list[float]) -> list[float]:
    out, acc = [], 0.0
    for w in ws:
        acc += w
        out.append(acc)
    return out


def _outages(rng: random.Random, shape: ChainShape, n_s: int) -> list[tuple[int, int, int]]:
    ticks = shape.days * 288
    out = []
    per_store = shape.outages_per_week * shape.days / 7 / n_s
    for s in range(n_s):
        for _ in range(poisson(rng, per_store)):
            start = rng.randrange(ticks)
            minutes = math.exp(rng.gauss(math.log(shape.outage_median_h * 60), shape.outage_sigma))
            length = max(3, min(24 * 12, round(minutes / 5)))
            out.append((s, start, min(ticks, start + length)))
    bf = shape.black_friday_day
    if bf is not None and bf < shape.days:
        a, b = shape.chain_outage_hours
        out += [(s, bf * 288 + a * 12, bf * 288 + b * 12) for s in range(n_s)]
    out.sort(key=lambda r: (r[1], r[0]))
    return out
