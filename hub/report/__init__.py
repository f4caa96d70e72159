"""The nightly reconciliation report's core: no I/O, no SQL.

- `days`: a business date's bounds in each store's zone;
- `figures`: the arithmetic (roll-forward and its tie-out, shrink, accuracy, KPIs and their change,
  hours out of stock, what changed between two revisions), fed by the SQL in hub/service/report_sql.py;
- `model`: the report as pydantic models (its JSON schema is the documented one);
- `render`: CSV per table, and the one HTML page with its inline SVG charts (`charts`).
"""
