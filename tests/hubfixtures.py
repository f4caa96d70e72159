"""Shared helpers for the hub's tests: a real PostgreSQL, the real hub as a process, a tiny chain.

Import what you need (fixtures included) into a test module:

    from tests.hubfixtures import pg_server, fresh_pg_database, HubProcess, tiny_chain  # noqa: F401

- ``pg_server`` (session fixture): one pgserver PostgreSQL 16 for the whole
  run, in a temp dir the ``pgserver`` system user can reach; skipped (not
  failed) if pgserver cannot start here. ``fresh_pg_database(server)`` makes
  a uniquely named database on it and returns its URL (``drop_pg_database``
  removes it).
- ``HubProcess``: ``backroom hub --db URL serve`` under uvicorn on 127.0.0.1
  at a free port, waited for on /health and stopped by its pid.
- ``tiny_chain(...)``: a fixtures ``Chain`` with a handful of SKUs and stock
  given line by line, so tests can reason about exact figures.
- ``hub_backend_url`` (fixture, parametrised): a fresh hub database URL on
  SQLite (a temp file) and on PostgreSQL, for tests that must hold on both.
- ``ledger_entry(store_id, seq, **fields)``: a schema-valid ``LedgerEntry``
  made by hand (a 1-unit ``receive`` unless told), for forged or odd entries.
- ``LocalClient``: a ``HubClient`` look-alike that calls a ``Hub`` in process
  (refusals come back as ``sync.client.Refused``), so ``node.runner``'s push,
  pull, ledger tail and ``initialise_from_hub`` run against a hub without HTTP.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from fixtures.chain import Chain, Item, Location, StockLine
from sync.gtin import make_gtin13

ROOT = Path(__file__).resolve().parent.parent


# -- PostgreSQL (pgserver) ----------------------------------------------------------


def _ensure_runtime_dir() -> None:
    """pgserver (platformdirs) wants a private runtime dir; importing it under -W error needs one."""
    cur = os.environ.get("XDG_RUNTIME_DIR")
    if cur and Path(cur).is_dir():
        return
    d = Path(tempfile.gettempdir()) / f"backroom-xdg-{os.getuid()}"
    d.mkdir(mode=0o700, exist_ok=True)
    d.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(d)


@dataclass
class PgServer:
    server: object  # pgserver.PostgresServer
    uri: str  # postgresql://postgres:@/postgres?host=DIR
    socket_dir: str

    def url(self, database: str) -> str:
        return f"postgresql://postgres:@/{database}?host={self.socket_dir}"


def start_pg_server() -> tuple[PgServer, Path]:
    _ensure_runtime_dir()
    import pgserver  # noqa: PLC0415 - only when a test needs PostgreSQL

    base = Path(tempfile.mkdtemp(prefix="backroom-pg-"))
    base.chmod(0o755)  # as root, pgserver runs postgres as user `pgserver`: it must reach the data dir
    srv = pgserver.get_server(base / "data", cleanup_mode="delete")
    uri = srv.get_uri()
    socket_dir = uri.split("host=", 1)[1]
    pg = PgServer(srv, uri, socket_dir)
    # A throwaway cluster: no fsync at each commit and CREATE DATABASE (a test's fresh database), no full
    # pages in the WAL. Isolation levels, locks and serialization failures are exactly as before; only
    # what a power cut would do to the files changes, and the files are deleted at the end of the run.
    for setting in ("fsync = off", "synchronous_commit = off", "full_page_writes = off"):
        _admin(pg, f"ALTER SYSTEM SET {setting}")
    _admin(pg, "SELECT pg_reload_conf()")
    return pg, base


def stop_pg_server(pg: PgServer) -> None:
    """Immediate shutdown (SIGQUIT to the postmaster, by its pid): the data is deleted next, so the
    shutdown checkpoint of every test's database (15 s on a busy disk) is for nothing."""
    import psutil  # noqa: PLC0415 - pgserver's own dependency

    with contextlib.suppress(Exception):
        pid = pg.server.get_pid()  # type: ignore[attr-defined]
        os.kill(pid, signal.SIGQUIT)
        psutil.Process(pid).wait(10)


_PG: dict[str, object] = {}  # "server": (PgServer, base) or the exception that stopped it from starting


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    # Each test module imports this fixture, and pytest keeps one session instance per module that
    # defines it: every module would start a cluster of its own (15-20 in a run, all alive until the
    # end, each stopped in turn then). They all share one instead; the first to be torn down (at the
    # session's end, when no test needs it any more) stops it.
    if "server" not in _PG:
        try:
            _PG["server"] = start_pg_server()
        except Exception as err:  # noqa: BLE001 - no PostgreSQL here: say so, do not fail unrelated tests
            _PG["server"] = err
    got = _PG["server"]
    if isinstance(got, Exception):
        pytest.skip(f"pgserver could not start a PostgreSQL here: {got!r}")
    pg, base = got  # type: ignore[misc]
    try:
        yield pg
    finally:
        if _PG.pop("server", None) is not None:
            stop_pg_server(pg)
            with contextlib.suppress(Exception):
                pg.server.cleanup()  # type: ignore[attr-defined]
            shutil.rmtree(base, ignore_errors=True)


def _admin(pg: PgServer, sql: str) -> None:
    import psycopg  # noqa: PLC0415

    with psycopg.connect(pg.uri, autocommit=True) as conn:
        conn.execute(sql)


def fresh_pg_database(pg: PgServer, prefix: str = "hubtest") -> str:
    """A new, empty database on `pg`; returns its URL (postgresql://..., as the hub takes it)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    _admin(pg, f'CREATE DATABASE "{name}"')
    return pg.url(name)


def drop_pg_database(pg: PgServer, url: str) -> None:
    name = url.split("/")[3].split("?")[0]
    with contextlib.suppress(Exception):
        _admin(pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def hub_backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.sqlite'}"
        return
    pg = request.getfixturevalue("pg_server")
    url = fresh_pg_database(pg, "hubtest")
    yield url
    drop_pg_database(pg, url)


# -- the real hub, as a process --------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def backroom_command() -> list[str]:
    """The installed `backroom` script next to this interpreter, else the same entry point via -c."""
    script = Path(sys.executable).with_name("backroom")
    if script.exists():
        return [sys.executable, str(script)]
    return [sys.executable, "-c", "import backroom_cli; backroom_cli.main()"]


def backroom(*args: str, timeout: float = 60, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `backroom ARGS...` to completion (e.g. `hub --db URL token issue --role ops`)."""
    return subprocess.run([*backroom_command(), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


class HubProcess:
    """`backroom hub --db URL serve --port P` as a subprocess; `stop()` ends it by pid.

        with HubProcess(url, log_dir=tmp_path) as hub:
            httpx.get(hub.url + "/health")
    """

    def __init__(self, db_url: str, *, port: int | None = None, log_dir: str | Path | None = None,
                 env: dict[str, str] | None = None, startup_timeout: float = 30.0) -> None:
        self.db_url = db_url
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        log_dir = Path(log_dir or tempfile.mkdtemp(prefix="backroom-hub-"))
        self.log_path = log_dir / f"hub-{self.port}.log"
        self.env = {**os.environ, **(env or {})}
        self.env.pop("BACKROOM_HUB_DATABASE_URL", None)  # --db says it
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> HubProcess:
        return self.launch().wait_ready()

    def launch(self) -> HubProcess:
        """Start the process and return at once (`wait_ready` waits for /health; `start` does both)."""
        cmd = [*backroom_command(), "hub", "--db", self.db_url, "serve", "--host", "127.0.0.1",
               "--port", str(self.port), "--log-level", "warning"]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        self._deadline = time.monotonic() + self.startup_timeout
        return self

    def wait_ready(self) -> HubProcess:
        assert self.proc is not None, "launch() first"
        deadline = self._deadline
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"the hub exited with {self.proc.returncode} while starting:\n{self.log()}")
            try:
                if httpx.get(self.url + "/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the hub did not answer /health within {self.startup_timeout} s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM by pid, wait, then SIGKILL; never touches any other process."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        with contextlib.suppress(Exception):
            self._log.close()

    def __enter__(self) -> HubProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_hubs(procs: Sequence[HubProcess]) -> list[HubProcess]:
    """Start several hub processes at once (each spends a second or two importing) and wait for all;
    if one fails to start, every one of them is stopped."""
    try:
        for p in procs:
            p.launch()
        for p in procs:
            p.wait_ready()
    except BaseException:
        for p in procs:
            p.stop()
        raise
    return list(procs)


# -- a tiny chain with stock given line by line ---------------------------------------


@dataclass(frozen=True)
class TinyChain(Chain):
    lines: tuple[StockLine, ...] = ()

    def stock(self, location: str) -> Iterator[StockLine]:  # type: ignore[override]
        self.location(location)
        return iter([ln for ln in self.lines if ln.location == location])


def tiny_item(n: int, *, safety_buffer: int = 0, price: int = 500) -> Item:
    return Item(sku=f"SKU{n:06d}", name=f"Test item {n}", gtin=make_gtin13(f"40012345{n:04d}"), price=price,
                perishable=False, shelf_life_days=None, case_gtin=None, pack_qty=1, in_store=False,
                safety_buffer=safety_buffer)


def tiny_chain(items: Sequence[Item], stock: Sequence[tuple[str, str, str, int]], *, stores: int = 3) -> TinyChain:
    """`stock` is (location, sku, bin, qty); locations are S001..S00n and the warehouse W01."""
    locs = tuple(Location(f"S{i:03d}", f"Store {i}", "store") for i in range(1, stores + 1)) + (
        Location("W01", "Warehouse", "warehouse"),)
    return TinyChain(seed=0, locations=locs, catalog=tuple(items),
                     lines=tuple(StockLine(loc, sku, bin_, qty) for loc, sku, bin_, qty in stock))


def ledger_entry(store_id: str, seq: int, sku: str, **fields: object):  # type: ignore[no-untyped-def]
    """A store's entry as a forger (or a buggy node) could send it: a 1-unit receive unless `fields` say."""
    from sync.models import LedgerEntry  # noqa: PLC0415

    e: dict[str, object] = {
        "seq": seq, "store_id": store_id, "op_id": f"op-{seq}", "kind": "receive", "sku": sku, "qty": 1,
        "floor_delta": 1, "back_delta": 0, "quota_delta": 1, "held_delta": 0, "over_quota": 0, "ref": None,
        "amount": 0, "on_hand_after": 0, "quota_after": 0, "held_after": 0, "terminal": "T1", "clerk": "c1",
        "at": "2025-03-10T09:00:00.000000+00:00", "detail": {}}
    e.update(fields)
    return LedgerEntry(**e)


# -- a HubClient look-alike over a Hub in this process ----------------------------------


class LocalClient:
    """What node.runner needs of a HubClient (opening, push, pull, ledger_tail, put_snapshot), calling `hub` directly."""

    def __init__(self, hub: object, store_id: str) -> None:
        self.hub = hub
        self.store_id = store_id

    def _call(self, fn, *args):  # type: ignore[no-untyped-def]
        from hub.api.errors import status_of  # noqa: PLC0415
        from hub.rules import HubError  # noqa: PLC0415
        from sync.client import Refused  # noqa: PLC0415
        from sync.models import Refusal  # noqa: PLC0415

        try:
            return fn(*args)
        except HubError as err:
            raise Refused(status_of(err), Refusal(code=err.code, message=err.message,
                                              expected_seq=err.extra.get("expected_seq"))) from err

    def opening(self, store_id: str):  # type: ignore[no-untyped-def]
        return self._call(self.hub.opening, store_id)  # type: ignore[attr-defined]

    def push(self, batch):  # type: ignore[no-untyped-def]
        return self._call(self.hub.ingest, self.store_id, batch)  # type: ignore[attr-defined]

    def pull(self, store_id: str, cursor: int):  # type: ignore[no-untyped-def]
        return self._call(self.hub.pull, store_id, cursor)  # type: ignore[attr-defined]

    def ledger_tail(self, store_id: str, after: int):  # type: ignore[no-untyped-def]
        return self._call(self.hub.ledger_tail, store_id, after)  # type: ignore[attr-defined]

    def put_snapshot(self, part):  # type: ignore[no-untyped-def]
        return self._call(self.hub.put_snapshot, self.store_id, part.business_date, part)  # type: ignore[attr-defined]

    def close(self) -> None:
        pass
