"""The balance bench's parts (bench/balance_policies.py runs them).

- `scenario`: a scenario as data, and its JSON file format;
- `chain`: the seeded chain that makes one;
- `engine`: a scenario played against one policy, tick by tick, and its tallies;
- `baselines`: oracle, online-only, no quotas;
- `quota`: stock with quotas (the demarcation rule), static split and reactive only;
- `balancer`: Backroom's balancer (`hub.rules.balance.plan`) as a policy;
- `forecast`: the hub's sales records and forecasts (`hub.rules.demand`'s model, cached);
  `forecast_check`: those forecasts held against `hub.rules.demand` on sampled spots;
- `observe`: the balancer with a record of where it refused walk-ins and how it moved quota;
- `report`: the figures over seeds, the tables and the JSON line.

bench/ is not a package: a bench puts bench/ on sys.path and imports `policies.X`.
"""
