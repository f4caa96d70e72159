"""Setting a store's node file up and keeping it in step with the hub: init, status, sync, recover, run, backup."""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path

from node.cli.common import FileProblem, Refusal, emit_json, open_node, pairs, settings
from node.present import local_time
from node.rules import Policy

def cmd_init(args: argparse.Namespace) -> None:
    from node.service import initialise_from_chain

    if bool(args.hub) != bool(args.token):
        raise FileProblem("--hub and --token go together: the hub's address and this store's token.")
    country = _country(args.country)
    db, _, _ = settings(args)
    existed = db.exists()
    node = open_node(args, create=True)
    try:
        try:
            if args.hub:
                from node.runner import initialise_from_hub
                from sync.client import HubClient, SyncError

                try:
                    with HubClient(args.hub, args.token) as client:
                        initialise_from_hub(node, client, args.store, hub_url=args.hub, token=args.token)
                except SyncError as err:
                    raise FileProblem(f"The hub could not set this store up: {err}") from None
            else:
                from fixtures.chain import demo_chain

                initialise_from_chain(node, demo_chain(), args.store, policy=Policy(args.policy),
                                      quota_share=args.quota_share)
            if country:  # given here, it wins over the hub's
                node.set_meta(rcn_country=country)
        except BaseException:
            node.close()
            if not existed:  # leave nothing behind for a refused init
                for suffix in ("", "-wal", "-shm", "-journal"):
                    Path(f"{db}{suffix}").unlink(missing_ok=True)
            raise
        st = store_status(node, db)
    finally:
        node.close()
    if args.json:
        emit_json(st)
    else:
        print(f"Initialised {st['store_id']} ({st['store_name']}) in {db}: {st['items']} items, "
              f"policy {st['policy']}, ledger at seq {st['last_seq']}.")


def _country(text: str | None) -> str | None:
    """`--country` checked before anything is written: a layout biip cannot read would misprice every in-store code."""
    if text is None:
        return None
    from node.barcodes import RCN_COUNTRIES

    if text.strip().upper() not in RCN_COUNTRIES:
        raise Refusal(f"In-store codes have no layout known here for {text!r}; "
                      f"give one of {', '.join(RCN_COUNTRIES)}.")
    return text.strip().upper()


def store_status(node, db: Path) -> dict:  # noqa: ANN001
    from node.queries import counts
    from node.runner import status as sync_status

    meta = node.meta()
    store_id = node.store_id
    return {
        "store_id": store_id,
        "store_name": meta.get("store_name", ""),
        "policy": str(node.policy),
        "rcn_country": node.rcn_country,
        "created_at": meta.get("created_at"),
        "last_seq": node.last_seq(),
        **counts(node.conn),
        "db": str(db),
        "terminal": node.terminal,
        "clerk": node.clerk,
        **{k: v for k, v in sync_status(node).items() if k in ("hub", "online", "last_sync_at", "last_error",
                                                                "pushed_seq", "waiting", "sync_stopped",
                                                                "last_problem")},
    }


def cmd_status(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        st = store_status(node, node.path)
    if args.json:
        emit_json(st)
        return
    print(pairs([("Store", f"{st['store_id']}  {st['store_name']}"), ("Policy", st["policy"]),
                 ("In-store codes", f"as printed in {st['rcn_country']}"),
                 ("Items", st["items"]), ("Last seq", st["last_seq"]), ("Open holds", st["open_holds"]),
                 ("Created", local_time(st["created_at"])), ("Node file", st["db"]),
                 ("Terminal", st["terminal"]), ("Clerk", st["clerk"]),
                 ("Hub", st["hub"] or "none (standalone)"),
                 ("Link", {True: "online", False: "offline", None: "-"}[st["online"]]),
                 ("Last sync", local_time(st["last_sync_at"]) or "never"),
                 ("Waiting to sync", f"{st['waiting']} ledger entries"),
                 *([("SYNC STOPPED", st["sync_stopped"])] if st["sync_stopped"] else []),
                 *([("Last error", st["last_error"])] if st["last_error"] else []),
                 *([("Last problem", st["last_problem"])] if st["last_problem"] else [])]))


def cmd_sync(args: argparse.Namespace) -> None:
    from node.runner import client_for, sync_once

    with open_node(args) as node:
        with client_for(node) as client:
            result = sync_once(node, client)
    if args.json:
        emit_json(result)
    elif not result["online"]:
        raise FileProblem(f"The hub is out of reach ({result['error']}); sales are kept and sync later.")
    elif "stopped" in result:
        raise FileProblem(f"Sync is stopped ({result['stopped']}): {result['error']}")
    else:
        print(f"Synced: {result['pushed']} entries pushed, {result['grants']} grants applied, "
              f"{result['releases']} release requests answered, {result['chain']} chain figures updated.")


def cmd_recover(args: argparse.Namespace) -> None:
    from node.runner import SyncStopped, client_for, recover
    from sync.client import SyncError

    with open_node(args) as node:
        with client_for(node) as client:
            try:
                result = recover(node, client)
            except SyncStopped as err:
                node.set_meta(sync_stopped=err.code, last_error=err.message)
                raise Refusal(err.message) from None
            except SyncError as err:
                raise FileProblem(f"The hub could not be asked: {err}") from None
    if args.json:
        emit_json(result)
    elif result["recovered"]:
        print(f"Recovered {result['recovered']} entries from the hub; the ledger now ends at seq {result['last_seq']}.")
    else:
        print(f"Nothing to recover: the hub holds this store's ledger up to seq {result['hub_seq']} and this file "
              f"up to seq {result['last_seq']}, the same entries.")


def cmd_run(args: argparse.Namespace) -> None:
    import signal
    import threading

    from node.runner import Runner

    import logging

    db, _, _ = settings(args)
    with open_node(args):
        pass  # the same clear errors as every command for a missing or empty file
    # While the hub is down a tick outlasts its interval; APScheduler says so every half second.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    stop = threading.Event()
    runner = Runner(str(db), pull_every=args.pull_every,
                    on_sync=(lambda r: print(json.dumps(r), flush=True)) if args.json else None)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    runner.start()
    if not args.json:
        print(f"Syncing {db} with its hub (push after each sale, pull every {args.pull_every:g} s); Ctrl+C stops.",
              flush=True)
    try:
        stop.wait(args.seconds if args.seconds else None)
    finally:
        runner.stop()


def cmd_backup(args: argparse.Namespace) -> None:
    dest = Path(args.dest)
    with open_node(args) as node:
        try:
            out = node.backup(dest)
        except FileExistsError as e:
            raise Refusal(str(e)) from None
        except (OSError, sqlite3.OperationalError) as e:
            raise Refusal(f"Cannot write a backup to {dest}: {e}.") from None
        seq = node.last_seq()
    if args.json:
        emit_json({"backup": str(out), "last_seq": seq})
    else:
        print(f"Backed up to {out} (ledger up to seq {seq}).")
