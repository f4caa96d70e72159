"""Quota balancing against an oracle and what retailers use today: a seeded chain played against each policy.

    python bench/balance_policies.py                 # 5 seeds of the full chain, 3 stock variants (a few minutes)
    python bench/balance_policies.py --quick         # a small chain, 10 days, 2 seeds (well under a minute)
    python bench/balance_policies.py --scenario FILE # replay a scenario file against every policy
    python bench/balance_policies.py --dump-scenario FILE   # also write the first seed's scenario

The chain (bench/policies/chain.py): 20 stores whose sizes differ by x3, a
warehouse and the web shop (30% of demand); 200 SKUs with Zipf popularity
(1.1); 28 days in 5-minute ticks with a daily and weekly rhythm; weekly
deliveries; store outages (median 3 h, up to 24 h, about 4 a week across the
chain); Black Friday at x4 with a chain-wide 6-hour outage. Stock variants:
`normal` (1-2 weeks of mean demand per SKU and location), `scarce_07` and
`scarce_04` (0.7 and 0.4 weeks). The scenario format is in
bench/policies/scenario.py; the engine in bench/policies/engine.py.

Policies, each playing the same demand, outages and deliveries:
oracle (every shelf seen at once: the physical limit, and the floor every
figure is measured against), online-only, no quotas, static split (50% and
80% of a store's stock as quota), reactive only (a top-up after a store runs
out), and Backroom's balancer (`hub.rules.balance.plan` on the hour over the
hub's own records, with `hub.rules.demand.forecast`'s model: policies/forecast.py
keeps it fast and checks it against the real function on sampled spots every
simulated day); see bench/policies/baselines.py, quota.py and balancer.py.

Figures per policy and stock variant (bench/policies/report.py): served as a
share of the oracle's (mean and worst seed), walk-in fill while the store's
network is down, web fill, units promised twice, over-quota sales (walk-ins
refused with an unpromised unit on the shelf), stranded quota at close,
quota moves per 1,000 units sold, sync messages. The last line is one JSON
object: the balancer's served_vs_oracle_<variant>, promised_twice and
moves_per_1k_sold at the top, every policy's under `policies`, the aims met,
and the run's seconds. Aims for the balancer (reported, not enforced): no
unit promised twice; >= 99.5% of the oracle at normal stock, >= 98% at 0.7
weeks, >= 96% at 0.4 weeks; walk-in fill in outages within 3 points of the
oracle's; <= 150 moves per 1,000 units sold; ahead of every baseline.
Then where the balancer refused walk-ins (online or in an outage, units on
the shelf or not, the forecast, the hour) and how it moved quota
(policies/observe.py), for whoever tunes `plan`.

Tried and rejected (5 seeds, 2026-11-30): asking for releases only while the
units past every store's target cover less than twice the web's demand over
the window, with small targets topped up by two min_moves. Moves per 1,000
sold fell from 203 / 204 / 231 to 5 / 45 / 108, but the web fill at normal
stock fell from 95.5% to 50.7% and served from 99.46% to 85.7% of the oracle:
a weekly delivery joins the store's quota, and only releases bring it back
within reach of the web, whose demand over one window says little of what it
will take before the next delivery.

Kept (2 seeds, 2026-11-30): grants fill quota to 3x its target (`top_up`, was
1.5x) and releases wait for 5x (was 3x), which halves the grants; and while
what the web can reach covers less than its demand over one window
(`web_cover`), stores give back what they hold past 1.5x their target, which
brings back the web fill those wide bands cost. Normal stock: served 99.37% ->
99.62%, outage gap 4.3 -> 1.3 points, moves per 1,000 sold 201 -> 126; 0.7
and 0.4 weeks: moves 200 / 229 -> 147 / 191, served 98.3% / 98.8%, as
before. web_cover 3 and 1.5 served 0.01-0.03 points more for 4-8% more moves;
min_move 3 cut moves by a further third but served 0.3-0.9 points less.

Kept (5 seeds, 2026-12-01): the balancer tops up at a store's pull as the
hub does (policies/balancer.py), but not where the last plan found the SKU
scarce or the web short; and under scarcity a store whose share rounds to
nothing is not asked for its last `least_target` units (it was granted them
back by the next plan out of scarcity, every two hours). Moves per 1,000
sold 131 / 163 / 209 -> 129 / 128 / 139; served 99.76% / 98.32% / 98.84% ->
99.83% / 97.97% / 98.20% (normal / 0.7 / 0.4 weeks). Tried and dropped:
under scarcity, asking back past 1.5x a store's share rather than 5x
(served and moves the same to 0.03 points: the web's loss under scarcity is
not quota held past a store's share); and a store asked under scarcity for
only what it holds past `least_target` (moves 129 / 128 / 139 -> 126 / 111 /
105, but served 0.02-0.07 points less).

Kept (5 seeds, 2026-12-01, later): a SKU is scarce only when its units cannot
cover the demand itself, not merely the targets `least_target` lifts (across
the long tail, slow stores gave their 2 units back and were granted them
again, hour after hour); a slow store is topped up once it is out; and while
the web is short a slow store keeps a quarter over its demand, not over
`least_target`. Served 99.83 / 97.97 / 98.20% -> 100.19 / 98.62 / 98.36%
(the oracle is greedy: the web takes from the store with the most), moves
129 / 128 / 139 -> 130 / 129 / 124. Tried and dropped: a slow store's grant
sized by its demand (3 x demand, at least 2) rather than 3 x `least_target`
(served +0.02 points); while the web is short, releases down to the target
itself from every store past it by `min_move` (served the same, moves +15);
under scarcity a share rounded to nothing keeping no unit (the same, moves
+2 to +4); `least_target` 1 (served as now, but moves 219 / 184 / 163).
Under scarcity online-only still serves more (99.14% and 99.87%): on seed 1
at 0.7 weeks the whole gap is the units left in slow stores' quota when the
run ends (2,341, mostly 1 or 2 a spot). It is not only the run's end: over
56 days (seed 1) the gap grows, 99.12% against online-only's 99.88% at 0.7
weeks and 98.97% against 99.997% at 0.4, with 3,624 and 1,233 units left
against 2,299 and 198: deliveries join slow stores' quota in ones and twos
that no release of `min_move` reaches.

Where that gap comes from (seed 1, 0.4 weeks, 2026-12-01): each Monday's
delivery sells out in three or four days. By day 3 the oracle and
online-only have served 775 units more than the balancer: the web is short,
and units sit in stores' quota, up to 1.5x a store's target. On days 4 to 6
the balancer's stores sell what they held, and the lead falls to 575. It
builds again every week and ends at 824 units. Those units are the ones left
when the run ends: 962 units in the quota of 759 spots whose walk-in
forecast is under 0.05 units a window, 1 to 3 units a spot. Tried and
dropped: while the web is short, a spot selling under half a unit a window
keeps nothing, and is asked for everything from 2 units (served 98.34% ->
99.09% at 0.4 weeks, 98.47% -> 98.24% at 0.7; moves per 1,000 sold 123 ->
348 and 131 -> 369), or from 1 unit (99.26% and 97.66%; moves 815 and 614).
With its units gone, a spot's walk-ins are refused while units sit in its
hub share (such refusals 393 -> 4,112 and 8,814 at 0.4 weeks). Where its
units stayed in its hub share, the next plan out of web shortage granted
them back, and as the web's forecast rose in the evening they were asked for
again. A spot under 0.05 units a window that is also never topped up matches
online-only at 0.7 weeks (asked from 2 units and from 1: 99.27% and 99.33%,
against 99.31%), but not at 0.4 (99.18% and 99.66%, against 99.90%). It
costs 210 and 414 moves per 1,000 sold at 0.4 weeks: the window's forecast
follows the hour, and crosses 0.05 twice a day. Online-only's web reaches
every unit on every shelf for nothing. The balancer pays a move for each
one- or two-unit lot it brings back from a slow store, and the quota those
lots stay in is what lets a store sell through an outage.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_repo_to_path, emit_json, print_table  # noqa: E402

add_repo_to_path()

from policies import report  # noqa: E402
from policies.baselines import NoQuotas, OnlineOnly, Oracle  # noqa: E402
from policies.chain import ChainShape, generate  # noqa: E402
from policies.engine import prepare, run  # noqa: E402
from policies.quota import ReactiveOnly, StaticSplit  # noqa: E402
from policies.scenario import Scenario  # noqa: E402

_SCENARIOS: dict = {}  # per worker process: (source, seed) -> (scenario, prepared)


def _scenario(source: str, seed: int, quick: bool):
    if (source, seed) not in _SCENARIOS:
        _SCENARIOS.clear()
        scn = Scenario.load(Path(source)) if source else generate(seed, ChainShape.quick() if quick else ChainShape())
        _SCENARIOS[source, seed] = (scn, prepare(scn))
    return _SCENARIOS[source, seed]


def make_policy(name: str, plan_every_min: int):
    if name == "oracle":
        return Oracle
    if name == "online-only":
        return OnlineOnly
    if name == "no quotas":
        return NoQuotas
    if name.startswith("static "):
        return partial(StaticSplit, fraction=int(name[7:-1]) / 100)
    if name == "reactive only":
        return ReactiveOnly
    if name == "balancer":
        from hub.rules.balance import BalanceSettings, plan
        from hub.rules.balance_terms import pull_below
        from hub.rules.demand import Promo

        from policies.observe import Observed

        return partial(Observed, plan=plan, settings=BalanceSettings(), promo=Promo, pull_below=pull_below,
                       plan_every=max(1, plan_every_min // 5))
    raise ValueError(f"unknown policy {name!r}")


def job(args: tuple) -> tuple[int, object, dict]:
    source, seed, quick, variant, policy, plan_every_min = args
    scn, prep = _scenario(source, seed, quick)
    holder = {}

    def build(s, online):
        holder["p"] = make_policy(policy, plan_every_min)(s, online)
        return holder["p"]

    r = run(scn, variant, build, prepared=prep, check_every=scn.ticks_per_day)
    p = holder["p"]
    extra = {}
    if hasattr(p, "book"):
        extra = {"plans": p.plans, "plan_seconds": p.plan_seconds, "forecast_seconds": p.forecast_seconds,
                 "refreshes": p.book.refreshes, "dev_used": p.book.dev_used, "dev_profile": p.book.dev_profile,
                 "variant": variant, **p.record()}
    return seed, r, extra


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python bench/balance_policies.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="6 stores, 40 SKUs, 10 days, 2 seeds")
    ap.add_argument("--seeds", type=int, help="seeds to play (default 5; quick 2)")
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--scenario", type=Path, help="play this scenario file (its every stock variant) instead")
    ap.add_argument("--dump-scenario", type=Path, help="write the first seed's generated scenario here")
    ap.add_argument("--policies", help="comma-separated subset (oracle is always played)")
    ap.add_argument("--plan-every", type=int, default=60, help="minutes between the balancer's plans (60)")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    policies = list(report.POLICIES)
    if a.policies:
        policies = ["oracle"] + [p for p in a.policies.split(",") if p != "oracle"]
    if a.scenario:
        source, seeds = str(a.scenario.resolve()), [0]
        scn = Scenario.load(a.scenario)
        label = f"scenario {a.scenario.name} ({scn.name})"
    else:
        source = ""
        seeds = list(range(a.first_seed, a.first_seed + (a.seeds or (2 if a.quick else 5))))
        scn = generate(seeds[0], ChainShape.quick() if a.quick else ChainShape())
        label = f"{len(seeds)} seed{'s' * (len(seeds) > 1)}{' (quick)' if a.quick else ''}"
    if a.dump_scenario:
        scn.dump(a.dump_scenario)
        print(f"wrote {a.dump_scenario} ({scn.name}: {len(scn.demand):,} demand lines, "
              f"{len(scn.stock)} stock variants)")
    variants = list(scn.stock)
    walk = sum(q for _, loc, _, q in scn.demand if loc >= 0)
    web = sum(q for _, loc, _, q in scn.demand if loc < 0)
    print(f"Balance policies: {label}; {scn.n_stores} stores, {len(scn.skus)} SKUs, "
          f"{scn.ticks // scn.ticks_per_day} days of {scn.tick_minutes}-minute ticks; first scenario "
          f"{walk:,} walk-in and {web:,} web units asked, {len(scn.outages)} store outages; "
          f"balancer plans every {a.plan_every} min; {a.workers} workers")
    print()
    jobs = [(source, seed, a.quick, v, p, a.plan_every) for p in reversed(policies) for seed in seeds
            for v in variants]  # the balancer's runs (the longest) first
    results, extras = [], []
    if a.workers > 1:
        with ProcessPoolExecutor(a.workers) as ex:
            done = list(ex.map(job, jobs))
    else:
        done = [job(j) for j in jobs]
    for seed, r, extra in done:
        results.append((seed, r))
        if extra:
            extras.append(extra)
    summary = report.summarise(results)
    report.print_tables(summary, label)
    rows, met = report.aims(summary)
    print_table(["balancer's aim", "target", "measured", "met"], rows)
    print()
    forecast_check = {}
    if extras:
        report.print_observations([(e["variant"], e) for e in extras])
        forecast_check = report.forecast_check(extras)
        print(f"balancer: {forecast_check['plans']:,} plans over every SKU at every location, "
              f"{forecast_check['plan_cpu_s']:.1f} CPU s in plan, {forecast_check['forecast_cpu_s']:.1f} CPU s "
              f"in forecasts ({forecast_check['refreshes']:,} profile refreshes). Forecasts used against "
              f"hub.rules.demand.forecast on {forecast_check['samples']} sampled spots: mean |difference| "
              f"{forecast_check['mean_abs_units']:.4f} units, at most {100 * forecast_check['max_rel']:.1f}% "
              f"(of max(1, exact)); profile against hourly_profile: at most "
              f"{forecast_check['max_profile_diff']:.1e} units/h")
    broken = [b for _, r in results for b in r.broken]
    for b in broken[:10]:
        print("BROKEN BOOKKEEPING:", b, file=sys.stderr)
    seconds = time.perf_counter() - t0
    print(f"\n{len(results)} runs in {seconds:.1f} s")
    per = report.json_figures(summary)
    bal = per.get("balancer", {})
    emit_json({
        **{k: bal.get(k) for k in [f"served_vs_oracle_{v}" for v in variants] + [
            f"served_vs_oracle_{v}_worst" for v in variants] + ["promised_twice", "moves_per_1k_sold"]},
        "policies": per,
        "aims_met": met,
        "meets_aims": all(met.values()),
        "floor": "oracle",
        "forecast_check": forecast_check,
        "seeds": len(seeds),
        "variants": variants,
        "broken_bookkeeping": len(broken),
        "seconds": seconds,
        "cpu_seconds": sum(r.seconds for _, r in results),
        "quick": a.quick,
        "scenario": a.scenario.name if a.scenario else None,
    })
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
