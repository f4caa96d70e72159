"""A throwaway PostgreSQL (pgserver: a real server from pip) for benches.

    with throwaway_postgres() as pg:
        url = pg.create_database("hub")      # postgresql://postgres:@/hub?host=...
        ...

The data directory lives in a fresh temporary folder that the `pgserver`
system user can reach (pgserver runs the server as that user when we are
root); the server is stopped and the folder removed on exit, even after an
error. pgserver imports `platformdirs`, which warns (an error under
warnings-as-errors) unless XDG_RUNTIME_DIR names a 0700 folder: one is made
when it is missing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _ensure_runtime_dir() -> None:
    if not os.environ.get("XDG_RUNTIME_DIR"):
        d = Path(tempfile.gettempdir()) / f"runtime-{os.getuid()}"
        d.mkdir(mode=0o700, exist_ok=True)
        os.chmod(d, 0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(d)


class ThrowawayPostgres:
    def __init__(self, server: Any, folder: Path, started_s: float) -> None:
        self.server = server
        self.folder = folder
        self.started_s = started_s

    @property
    def socket_dir(self) -> str:
        return str(self.server.get_postmaster_info().socket_dir)

    @property
    def version(self) -> str:
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as c:
            return c.execute("SHOW server_version").fetchone()[0]

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy/libpq URL over the Unix socket (pgserver listens on no TCP port)."""
        return f"postgresql://postgres:@/{database}?host={self.socket_dir}"

    def dsn(self, database: str = "postgres") -> str:
        return self.url(database)

    def setting(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as c:
            return c.execute(f"SHOW {name}").fetchone()[0]

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def throwaway_postgres(parent: str | Path | None = None) -> Iterator[ThrowawayPostgres]:
    """Start a fresh PostgreSQL in a temporary folder; stop it and remove the folder on exit."""
    _ensure_runtime_dir()
    import pgserver  # noqa: PLC0415  (after the runtime dir is set)

    folder = Path(tempfile.mkdtemp(prefix="backroom-pg-", dir=parent))
    os.chmod(folder, 0o755)  # the pgserver system user must reach the data directory
    server = None
    t0 = time.perf_counter()
    try:
        server = pgserver.get_server(folder / "data", cleanup_mode="stop")
        yield ThrowawayPostgres(server, folder, time.perf_counter() - t0)
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)
