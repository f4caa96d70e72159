"""The hub ingest bench's parts (bench/hub_ingest.py runs them).

- `servers`: the hubs and the floor app as uvicorn subprocesses on free ports;
- `entries`: the hubs loaded with the chain, and the entries real nodes make for them;
- `floor`: the floor's raw driver writes (sqlite3 and psycopg), the rows they write, and PostgreSQL's counters;
- `rounds`: ingest in alternating rounds over HTTP, and what each side measured;
- `reserve`: web reservations under concurrent load, from a minimal keep-alive HTTP/1.1 client;
- `inprocess`: a store's pull and the expiry sweep timed in-process, and a cProfile of `Hub.ingest`;
- `report`: the figures, the tables and the JSON line.

bench/ is not a package: a bench puts bench/ on sys.path and imports `ingest.X`.
"""

BATCH = 100
INGEST_STORE = "S001"
BACKLOG_STORE = "S002"
WAREHOUSE = "W01"
