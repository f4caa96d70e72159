"""`backroom demo`: a hub on embedded defaults, a demo store syncing with it, and the clerk's terminal.

Everything lives in one folder (default ./demo-data): the hub's SQLite file,
the store's node file, the tokens, receipts and the hub's log. Run it again
and it carries on where it stopped. `--smoke` runs the same wiring without
the screen: a sale, a sync, and the hub's view of it, then exits.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

DEMO_STORE = "S001"


def _free_port(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]


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


def start_hub(db: str, port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(_hub_cmd("--db", db, "serve", "--port", str(port)), stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"The hub stopped at start; see {log}.")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit(f"The hub did not answer within 20 s; see {log}.")


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
    p.add_argument("--smoke", action="store_true", help="no screen: one sale, one sync, print the result, exit")
    args = p.parse_args(argv)

    data = Path(args.dir).resolve()
    cfg = prepare(data)
    port = _free_port(args.port)
    hub_url = f"http://127.0.0.1:{port}"
    hub = start_hub(cfg["db"], port, data / "hub.log")
    runner = None
    try:
        path = open_store(data, hub_url, cfg["store"])
        if args.smoke:
            return smoke(path, hub_url, cfg["ops"])
        from node.runner import Runner
        from tui.app import BackroomApp

        runner = Runner(str(path), pull_every=5.0)
        runner.start()
        BackroomApp(path, terminal="T1", clerk=args.clerk, receipts_dir=data / "receipts").run()
        return 0
    finally:
        if runner:
            runner.stop()
        os.killpg(hub.pid, signal.SIGTERM)
        try:
            hub.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(hub.pid, signal.SIGKILL)
