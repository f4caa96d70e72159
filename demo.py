"""`backroom demo`: a hub on embedded defaults, a demo store syncing with it, and the clerk's terminal.

Everything lives in one folder (default ./demo-data): the hub's SQLite file,
the store's node file, the tokens, receipts and the hub's log. Run it again
and it carries on where it stopped. `--smoke` runs the same wiring without
the screen: a sale, a sync, and the hub's view of it, then exits;
`--headless` keeps the hub and the store syncing without a screen until Ctrl+C
(for `backroom tui --serve` on the store's file, or to poke the hub's API).

The hub's address and the ops token are printed at start. A hub that dies is
started again on the same address by a watchdog thread; only the processes
the demo started are ever stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

DEMO_STORE = "S001"


def _free_port(preferred: int) -> tuple[int, bool]:
    """(the port to use, whether it is the preferred one)."""
    with socket.socket() as s:
        # as uvicorn binds: a port only lingering in TIME_WAIT from the last run is not "taken"
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred, True
        except OSError:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1], False


def _hub_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "hub.cli", *args]


def prepare(data: Path) -> dict:
    """Create the hub's database and tokens once; later runs reuse them."""
    data.mkdir(parents=True, exist_ok=True)
    tokens_file = data / "tokens.json"
    db = f"sqlite:///{data / 'hub.sqlite'}"
    if tokens_file.exists():
        return {"db": db, **json.loads(tokens_file.read_text())}
    from fixtures.chain import demo_chain
    from hub.service import Hub

    hub = Hub.open(db)
    hub.load_chain(demo_chain())
    tokens = {"store": hub.issue_token("store", DEMO_STORE), "ops": hub.issue_token("ops"),
              "web": hub.issue_token("web")}
    hub.close()
    tokens_file.write_text(json.dumps(tokens, indent=2))
    tokens_file.chmod(0o600)
    return {"db": db, **tokens}


class HubDidNotStart(Exception):
    pass


def start_hub(db: str, port: int, log: Path) -> subprocess.Popen:
    with log.open("ab") as out:  # the child keeps its own descriptor
        proc = subprocess.Popen(_hub_cmd("--db", db, "serve", "--port", str(port)), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HubDidNotStart(f"The hub stopped at start (exit {proc.returncode}); see {log}.")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    stop_hub(proc)
    raise HubDidNotStart(f"The hub did not answer within 20 s; see {log}.")


def stop_hub(proc: subprocess.Popen) -> None:
    """SIGTERM the hub's own process group (it was started in a new session), then SIGKILL."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


class HubWatch:
    """Starts the hub again, on the same address, whenever its process ends; says so through `say`."""

    def __init__(self, db: str, port: int, log: Path, say: Callable[[str], None]) -> None:
        self.db, self.port, self.log, self.say = db, port, log, say
        self.proc = start_hub(db, port, log)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="hub-watch", daemon=True)

    def start(self) -> HubWatch:
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            code = self.proc.poll()
            if code is None:
                continue
            self.say(f"The hub (pid {self.proc.pid}) stopped with exit code {code}; starting it again.")
            while not self._stop.is_set():
                try:
                    proc = start_hub(self.db, self.port, self.log)
                except HubDidNotStart as err:  # the port taken meanwhile, a locked file: try again shortly
                    self.say(f"{err} Trying again in 5 s.")
                    self._stop.wait(5)
                    continue
                if self._stop.is_set():  # stopping while it started: it must not outlive the demo
                    stop_hub(proc)
                    return
                self.proc = proc
                self.say(f"The hub is back at http://127.0.0.1:{self.port} (pid {proc.pid}).")
                break

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        stop_hub(self.proc)


def open_store(data: Path, hub_url: str, token: str) -> Path:
    from node.runner import initialise_from_hub
    from node.service import Node
    from sync.client import HubClient

    path = data / "store-S001.sqlite"
    with Node(path) as node:
        if "store_id" not in node.meta():
            with HubClient(hub_url, token) as client:
                initialise_from_hub(node, client, DEMO_STORE, hub_url=hub_url, token=token)
        else:
            node.set_meta(hub_url=hub_url)  # the hub may be on another port this time
    return path


def smoke(path: Path, hub_url: str, ops_token: str) -> int:
    """The demo's wiring without a screen: sell, sync, ask the hub what it saw."""
    from node.rules import SaleLine
    from node.runner import client_for, status, sync_once
    from node.service import Node

    with Node(path, terminal="T1", clerk="demo") as node:
        sku = node.conn.execute("SELECT sku FROM stock WHERE quota > 0 ORDER BY sku LIMIT 1").fetchone()[0]
        item = node.resolve(sku)
        sale = node.sell(uuid.uuid4().hex, [SaleLine(sku, 1, item.unit_price)])
        with client_for(node) as client:
            synced = sync_once(node, client)
        st = status(node)
    seen = httpx.get(f"{hub_url}/ops/stock/{sku}", headers={"Authorization": f"Bearer {ops_token}"}).json()
    here = next(x for x in seen["locations"] if x["location"] == DEMO_STORE)
    print(json.dumps({"sale": sale["receipt"], "sync": synced, "status": st, "hub_on_hand": here["on_hand"]}))
    return 0 if st["waiting"] == 0 and synced.get("online") else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="backroom demo", description=__doc__.splitlines()[0])
    p.add_argument("--dir", default="demo-data", help="where the demo keeps its files (default ./demo-data)")
    p.add_argument("--port", type=int, default=8700, help="the hub's port (default 8700, or a free one)")
    p.add_argument("--clerk", default=os.environ.get("USER", "clerk"), help="the clerk at the till")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_true", help="no screen: one sale, one sync, print the result, exit")
    mode.add_argument("--headless", action="store_true", help="no screen: the hub and the store syncing, until Ctrl+C")
    args = p.parse_args(argv)

    data = Path(args.dir).resolve()
    cfg = prepare(data)
    port, preferred = _free_port(args.port)
    hub_url = f"http://127.0.0.1:{port}"
    if not preferred:
        say(f"Port {args.port} is taken; the hub uses port {port} instead.")
    try:
        watch = HubWatch(cfg["db"], port, data / "hub.log", say)
    except HubDidNotStart as err:
        raise SystemExit(str(err)) from None
    say(f"Hub:       {hub_url}  (pid {watch.proc.pid}; API at {hub_url}/docs; log {data / 'hub.log'})")
    say(f"Ops token: {cfg['ops']}")
    runner = None
    signal.signal(signal.SIGTERM, _interrupt)  # `kill PID` stops the demo as Ctrl+C does, hub and all
    # A shell without job control starts a background command with SIGINT ignored, and Python keeps an
    # ignored SIGINT so: the demo then never heard Ctrl+C (`kill -INT`), and ran on with its hub.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 PID`: where every thread is, on stderr
    try:
        path = open_store(data, hub_url, cfg["store"])
        say(f"Store:     {DEMO_STORE}, node file {path}")
        if args.smoke:
            return smoke(path, hub_url, cfg["ops"])
        watch.start()
        from node.runner import Runner

        # While the hub is away a tick outlasts its interval, and APScheduler says so every half second.
        logging.getLogger("apscheduler").setLevel(logging.ERROR)
        runner = Runner(str(path), pull_every=5.0)
        runner.start()
        if args.headless:
            say(f"Syncing. The terminal in a browser: backroom tui --serve --db {path}. Ctrl+C stops.")
            while True:
                time.sleep(1)
        run_terminal(path, args.clerk, data, watch)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        # The hub stops while the runner does, not after it: a sync in flight then fails at once rather
        # than running out its timeout and retries, and the two waits overlap (a busy machine's Ctrl+C
        # once took over 30 s, one after the other).
        hub_stopping = threading.Thread(target=watch.stop, name="hub-stop")
        hub_stopping.start()
        if runner:
            runner.stop()
        hub_stopping.join()
        if not args.smoke:  # smoke's last line is its JSON
            say("Stopped the demo's hub and sync runner.")


def run_terminal(path: Path, clerk: str, data: Path, watch: HubWatch) -> None:
    from tui.app import BackroomApp

    app = BackroomApp(path, terminal="T1", clerk=clerk, receipts_dir=data / "receipts")
    news: list[str] = []

    def tell(message: str) -> None:  # Textual owns the screen: a notification now, a line when it closes
        news.append(message)
        with contextlib.suppress(RuntimeError):  # the app not running (yet, or any more)
            app.call_from_thread(app.notify, message, severity="warning", timeout=10)

    watch.say = tell
    try:
        app.run()
    finally:
        watch.say = say
        for message in news:
            say(message)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def say(message: str) -> None:
    print(message, flush=True)
