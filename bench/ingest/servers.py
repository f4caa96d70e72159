"""The bench's servers: both hubs (`backroom hub serve`) and the floor app, as uvicorn subprocesses on free ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from _common import REPO_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise SystemExit(f"{self.name} did not answer within {timeout} s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """Stop by pid: SIGTERM to uvicorn's parent, which stops its workers; SIGKILL if it lingers."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_server(name: str, argv: list[str], folder: Path, env: dict[str, str] | None = None) -> Server:
    port = free_port()
    log = folder / f"{name}.log"
    argv = [a.replace("{port}", str(port)) for a in argv]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})})
    return Server(name, proc, port, log)


def hub_server(name: str, db_url: str, folder: Path, workers: int) -> Server:
    return start_server(name, [sys.executable, "-m", "hub.cli", "--db", db_url, "serve", "--port",
                               "{port}", "--workers", str(workers), "--log-level", "warning"], folder)


def floor_server(pg_url: str, folder: Path, workers: int) -> Server:
    return start_server("floor", [sys.executable, "-m", "uvicorn", "_floor_app:app", "--app-dir", "bench",
                                  "--host", "127.0.0.1", "--port", "{port}", "--workers", str(workers),
                                  "--log-level", "warning"], folder,
                        env={"BENCH_FLOOR_PG_URL": pg_url, "PYTHONPATH": str(REPO_ROOT)})
