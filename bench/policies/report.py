"""The bench's figures from its runs: per policy and stock variant, over seeds; the tables and the JSON.

`served vs oracle` is a seed's units served (walk-ins and web) over the oracle's
on the same seed and stock, averaged over seeds (and the worst seed). Fills
pool every seed's units. `stranded` is the quota held at a store's close
beyond that store's walk-in demand for the SKU in the next 24 hours, as a
share of the quota held at close. Moves are grants, release requests and
transfers issued, per 1,000 units served. Messages are the pushes and pulls
that carried something (online-only: a message per walk-in asked), per run.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from _common import print_table
from policies.engine import Result
from policies.observe import ORDER, WHERE

POLICIES = ("oracle", "online-only", "no quotas", "static 50%", "static 80%", "reactive only", "balancer")
AIMS = {"normal": 0.995, "scarce_07": 0.98, "scarce_04": 0.96}  # the balancer's served vs the oracle
AIM_OUTAGE_POINTS = 3.0
AIM_MOVES_PER_1K = 150.0


def key(policy: str) -> str:
    return policy.replace(" ", "_").replace("-", "_").replace("%", "")


def _pct(a: int, b: int) -> float | None:
    return 100.0 * a / b if b else None


def summarise(results: list[tuple[int, Result]]) -> dict[str, dict[str, dict]]:
    """{variant: {policy: figures}} from (seed, Result) pairs."""
    by = defaultdict(list)
    for seed, r in results:
        by[r.variant, r.policy].append((seed, r))
    out: dict[str, dict[str, dict]] = defaultdict(dict)
    for (variant, policy), runs in by.items():
        oracle = {seed: r.served for seed, r in by.get((variant, "oracle"), [])}
        ratios = [r.served / oracle[seed] for seed, r in runs if oracle.get(seed)]
        tot = lambda name: sum(getattr(r, name) for _, r in runs)  # noqa: E731
        served = tot("served")
        out[variant][policy] = {
            "seeds": len(runs),
            "served_vs_oracle": sum(ratios) / len(ratios) if ratios else None,
            "served_vs_oracle_worst": min(ratios) if ratios else None,
            "served_pct_of_demand": _pct(served, tot("demand")),
            "walk_in_fill_outage_pct": _pct(tot("out_served"), tot("out_demand")),
            "walk_in_fill_pct": _pct(tot("walk_served"), tot("walk_demand")),
            "web_fill_pct": _pct(tot("web_served"), tot("web_demand")),
            "promised_twice": tot("promised_twice"),
            "over_quota": tot("over_quota"),
            "stranded_pct": _pct(tot("stranded"), tot("quota_at_close")) if tot("closes") else None,
            "moves_per_1k_sold": 1000.0 * tot("moves") / served if served else 0.0,
            "moves": tot("moves"),
            "served": served,
            "messages_per_run": tot("messages") / len(runs),
            "bad_moves": tot("bad_moves"),
            "broken": [b for _, r in runs for b in r.broken][:5],
            "seconds": tot("seconds"),
        }
    return out


def print_tables(summary: dict[str, dict[str, dict]], title: str) -> None:
    for variant, pols in summary.items():
        rows = []
        for p in sorted(pols, key=lambda p: POLICIES.index(p) if p in POLICIES else 99):
            f = pols[p]
            rows.append([p, _x(f["served_vs_oracle"]), _x(f["served_vs_oracle_worst"]),
                         f["served_pct_of_demand"], f["walk_in_fill_outage_pct"], f["web_fill_pct"],
                         f["promised_twice"], f["over_quota"], f["stranded_pct"], f["moves_per_1k_sold"],
                         round(f["messages_per_run"]), f["seconds"]])
        print_table(["policy", "served % oracle", "worst seed %", "% of demand", "outage walk-in fill %",
                     "web fill %", "promised twice", "over-quota", "stranded %", "moves/1k sold",
                     "messages/run", "CPU s"], rows, title=f"{title}, stock {variant}:")
        print()


def _x(ratio: float | None) -> float | None:
    return None if ratio is None else 100.0 * ratio


def aims(summary: dict[str, dict[str, dict]]) -> tuple[list[list], dict[str, bool]]:
    """The balancer's aims: rows for a table, and met or not by name."""
    rows, met = [], {}
    bal = {v: p.get("balancer") for v, p in summary.items()}
    twice = sum(b["promised_twice"] for b in bal.values() if b)
    met["promised_twice_0"] = twice == 0
    rows.append(["units promised twice", "0", twice, met["promised_twice_0"]])
    for v, b in bal.items():
        if not b:
            continue
        if v in AIMS:
            met[f"served_{v}"] = b["served_vs_oracle"] >= AIMS[v]
            rows.append([f"served vs oracle, {v}", f">= {100 * AIMS[v]:.1f}%", 100 * b["served_vs_oracle"],
                         met[f"served_{v}"]])
        o = summary[v].get("oracle")
        if o and o["walk_in_fill_outage_pct"] is not None and b["walk_in_fill_outage_pct"] is not None:
            gap = o["walk_in_fill_outage_pct"] - b["walk_in_fill_outage_pct"]
            met[f"outage_fill_{v}"] = gap <= AIM_OUTAGE_POINTS
            rows.append([f"outage walk-in fill below the oracle's, {v}", f"<= {AIM_OUTAGE_POINTS} points", gap,
                         met[f"outage_fill_{v}"]])
        met[f"moves_{v}"] = b["moves_per_1k_sold"] <= AIM_MOVES_PER_1K
        rows.append([f"moves per 1,000 sold, {v}", f"<= {AIM_MOVES_PER_1K:.0f}", b["moves_per_1k_sold"],
                     met[f"moves_{v}"]])
        rivals = {p: f for p, f in summary[v].items() if p not in ("balancer", "oracle")}
        for name, pool in (("ahead", rivals), ("ahead_of_safe", {p: f for p, f in rivals.items()
                                                                 if f["promised_twice"] == 0})):
            if not pool:
                continue
            best = max(pool, key=lambda p: pool[p]["served_vs_oracle"])
            top = pool[best]["served_vs_oracle"]
            met[f"{name}_{v}"] = b["served_vs_oracle"] > top
            what = "every baseline" if name == "ahead" else "every baseline promising nothing twice"
            rows.append([f"ahead of {what}, {v} (best: {best})", f"> {100 * top:.2f}%",
                         100 * b["served_vs_oracle"], met[f"{name}_{v}"]])
    return rows, met


def json_figures(summary: dict[str, dict[str, dict]]) -> dict:
    """Per policy: served_vs_oracle_<variant> (and _worst), promised_twice, moves_per_1k_sold and the rest."""
    per: dict[str, dict] = defaultdict(dict)
    for v, pols in summary.items():
        for p, f in pols.items():
            d = per[key(p)]
            d[f"served_vs_oracle_{v}"] = f["served_vs_oracle"]
            d[f"served_vs_oracle_{v}_worst"] = f["served_vs_oracle_worst"]
            d[f"walk_in_fill_outage_pct_{v}"] = f["walk_in_fill_outage_pct"]
            d[f"web_fill_pct_{v}"] = f["web_fill_pct"]
            d[f"stranded_pct_{v}"] = f["stranded_pct"]
            d[f"moves_per_1k_sold_{v}"] = f["moves_per_1k_sold"]
            for name in ("promised_twice", "over_quota", "bad_moves", "moves", "served"):
                d[name] = d.get(name, 0) + f[name]
            d["messages_per_run"] = d.get("messages_per_run", 0.0) + f["messages_per_run"] / len(summary)
    for d in per.values():  # over every stock variant
        d["moves_per_1k_sold"] = 1000.0 * d.pop("moves") / d["served"] if d["served"] else 0.0
        d["units_served"] = d.pop("served")
    return dict(per)


def print_observations(records: list[tuple[str, dict]]) -> None:
    """The balancer's refusals and moves by situation (policies/observe.py), summed over seeds, per variant."""
    variants = list(dict.fromkeys(v for v, _ in records))
    lost = {v: Counter() for v in variants}
    spots, moves = Counter(), {v: Counter() for v in variants}
    for v, rec in records:
        lost[v].update(rec["lost"])
        moves[v].update(rec["moves_by_hour"])
        if v == variants[0]:
            spots.update(rec["lost_spots"])
    keys = sorted({k for c in lost.values() for k in c}, key=lambda k: (WHERE.index(k[0]), ORDER.index(k[1])))
    rows = [[f"{where}: {detail}" if detail == "all" else f"  {detail}"] + [lost[v][where, detail] for v in variants]
            for where, detail in keys]
    print_table(["balancer's refused walk-in units, by situation"] + variants, rows)
    print()
    rows = []
    for kind in ("grant", "release", "transfer"):
        for label, hours in (("00-08", range(0, 8)), ("08-17", range(8, 17)), ("17-24", range(17, 24))):
            rows.append([f"{kind}s planned {label}h"] + [sum(moves[v][kind, h] for h in hours) for v in variants])
        n = [sum(moves[v][kind, h] for h in range(24)) for v in variants]
        rows.append([f"  units per {kind}"] + [moves[v][kind, "units"] / x if x else None for v, x in zip(variants, n)])
    rows.insert(4, ["  grants of min_move units or fewer"] + [moves[v]["grant", "of min_move units"] for v in variants])
    rows.insert(9, ["  releases within a day of a delivery or the opening"] + [
        moves[v]["release", "within a day of a delivery or the opening"] for v in variants])
    print_table(["balancer's moves"] + variants, rows)
    print()
    top = spots.most_common(8)
    if top:
        print_table([f"spots refused most with units on the shelf ({variants[0]})", "units"],
                    [[f"{store} {sku}", n] for (store, sku), n in top])
        print()


def forecast_check(extras: list[dict]) -> dict:
    """The balancer's forecasts beside hub.rules.demand's, and where its CPU time went."""
    dev = [d for e in extras for d in e["dev_used"]]
    return {
        "plans": sum(e["plans"] for e in extras),
        "plan_cpu_s": sum(e["plan_seconds"] for e in extras),
        "forecast_cpu_s": sum(e["forecast_seconds"] for e in extras),
        "refreshes": sum(e["refreshes"] for e in extras),
        "samples": len(dev),
        "mean_abs_units": sum(abs(a - b) for a, b in dev) / len(dev) if dev else 0.0,
        "max_rel": max((abs(a - b) / max(1.0, b) for a, b in dev), default=0.0),
        "max_profile_diff": max(e["dev_profile"] for e in extras),
    }
