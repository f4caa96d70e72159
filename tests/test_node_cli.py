"""`backroom node ...` run for real, in a subprocess, against node files in tmp_path.

One store is initialised per module (and one under the strict policy); a test
that writes works on its own copy of that file.
"""

from __future__ import annotations

import argparse
import json
import re
import os
import shutil
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from node.barcodes import make_in_store_code
from node.cli import build_parser, money

ROOT = Path(__file__).resolve().parents[1]


def run(*argv: str, db: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "node.cli", *argv]
    if db is not None:
        cmd += ["--db", str(db)]
    env = {**os.environ, "BACKROOM_CLERK": "tester", "BACKROOM_TERMINAL": "T9"}
    env.pop("BACKROOM_NODE_DB", None)
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError(f"{argv} exited {p.returncode}: {p.stderr}")
    return p


def run_json(*argv: str, db: Path) -> dict:
    return json.loads(run(*argv, "--json", db=db).stdout)


def q(db: Path, sql: str, *params: object) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def footprint(db: Path) -> tuple:
    """What any write would change: the ledger, the operations, the receipt counters, the stock."""
    return (
        q(db, "SELECT coalesce(max(seq), 0) FROM ledger")[0][0],
        q(db, "SELECT count(*) FROM operations")[0][0],
        tuple(tuple(r) for r in q(db, "SELECT * FROM terminals")),
        q(db, "SELECT sum(floor), sum(back), sum(quota), sum(held) FROM stock")[0][:],
    )


def heard_from_hub(db: Path, *, transfers: tuple = (), grants: tuple = ()) -> None:
    """What a pull would have told the node: transfers on their way (id, sku, qty, from) and grants (id, sku, qty)."""
    from node.service import Node
    from sync.models import Grant, PullResponse, TransferOrder

    with Node(db) as node:
        node.record_pull(PullResponse(cursor=int(node.meta().get("pull_cursor", 0)), transfers=[
            TransferOrder(transfer_id=t, sku=sku, qty=n, from_location=src, to_location=node.store_id)
            for t, sku, n, src in transfers]))
        node.note_grants([Grant(grant_id=g, grant_no=i, sku=sku, qty=n) for i, (g, sku, n) in enumerate(grants, 1)])


def stock(db: Path, sku: str) -> sqlite3.Row:
    return q(db, "SELECT floor, back, quota, held, over_quota FROM stock WHERE sku = ?", sku)[0]


# -- fixtures ------------------------------------------------------------------


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("node") / "store.sqlite"
    out = run("init", "--store", "S001", db=db).stdout
    assert "S001" in out and "2000 items" in out
    return db


@pytest.fixture(scope="module")
def strict_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("strict") / "store.sqlite"
    run("node", "init", "--store", "S002", "--policy", "strict", "--quota-share", "0.5", db=db)
    return db


def _copy(src: Path, dest_dir: Path) -> Path:
    dest = dest_dir / "store.sqlite"
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{src}{suffix}").exists():
            shutil.copy(f"{src}{suffix}", f"{dest}{suffix}")
    return dest


@pytest.fixture
def db(base: Path, tmp_path: Path) -> Path:
    return _copy(base, tmp_path)


@pytest.fixture
def strict_db(strict_base: Path, tmp_path: Path) -> Path:
    return _copy(strict_base, tmp_path)


_PLAIN = ("SELECT i.sku, i.gtin, i.name, i.price, s.floor, s.back, s.quota FROM items i JOIN stock s USING (sku) "
          "WHERE i.case_gtin IS NULL AND i.in_store = 0 AND i.perishable = 0 ")


@pytest.fixture(scope="module")
def plain(base: Path) -> sqlite3.Row:
    """An item sold by the unit with enough on the floor, in the back and in quota."""
    return q(base, _PLAIN + "AND s.floor >= 5 AND s.back >= 5 AND s.quota >= 5 ORDER BY i.sku LIMIT 1")[0]


@pytest.fixture(scope="module")
def plains(base: Path) -> list[sqlite3.Row]:
    """Three such items, none of them a case item."""
    return q(base, _PLAIN + "AND s.floor >= 5 AND s.back >= 5 AND s.quota >= 5 ORDER BY i.sku LIMIT 3")


@pytest.fixture(scope="module")
def cased(base: Path) -> sqlite3.Row:
    """An item with a case code and at least one case's worth of floor and quota."""
    return q(base, "SELECT i.sku, i.gtin, i.case_gtin, i.pack_qty, i.price, s.floor, s.quota FROM items i "
                   "JOIN stock s USING (sku) WHERE i.case_gtin IS NOT NULL AND s.floor >= i.pack_qty "
                   "AND s.quota >= i.pack_qty ORDER BY i.sku LIMIT 1")[0]


@pytest.fixture(scope="module")
def in_store(base: Path) -> sqlite3.Row:
    return q(base, "SELECT i.sku, i.gtin, i.price FROM items i JOIN stock s USING (sku) "
                   "WHERE i.in_store = 1 AND s.floor >= 1 AND s.quota >= 1 ORDER BY i.sku LIMIT 1")[0]


# -- selling -----------------------------------------------------------------------


def test_money_formats_minor_units() -> None:
    assert [money(x) for x in (0, 5, 1299, 100000, -50)] == ["0.00", "0.05", "12.99", "1000.00", "-0.50"]


def test_sell_by_barcode_with_case_quantity_and_in_store_price(db: Path, plain, cased, in_store) -> None:
    code = make_in_store_code(in_store["gtin"][:2], in_store["gtin"][2:6], 1234)
    before = footprint(db)[0]
    out = run("sell", f"3*{plain['gtin']}", cased["case_gtin"], code, "--tender", "card", db=db).stdout
    total = 3 * plain["price"] + cased["pack_qty"] * cased["price"] + 1234
    assert f"TOTAL {money(total)}" in out
    assert "Receipt S001-T9-000001" in out
    assert "Tender: card" in out
    assert plain["sku"] in out and cased["sku"] in out and "12.34" in out
    rows = q(db, "SELECT sku, qty, amount, terminal, clerk FROM ledger WHERE seq > ? ORDER BY seq", before)
    assert [(r["sku"], r["qty"], r["amount"]) for r in rows] == [
        (plain["sku"], 3, 3 * plain["price"]),
        (cased["sku"], cased["pack_qty"], cased["pack_qty"] * cased["price"]),
        (in_store["sku"], 1, 1234),
    ]
    assert {(r["terminal"], r["clerk"]) for r in rows} == {("T9", "tester")}
    assert stock(db, plain["sku"])["floor"] == plain["floor"] - 3


def test_sell_json_and_retry_with_same_op_id_writes_nothing_new(db: Path, plain) -> None:
    first = run_json("sell", plain["gtin"], "2*SKU" + plain["sku"][3:], "--op-id", "sale-1", db=db)
    assert first["receipt"] == "S001-T9-000001"
    assert first["total"] == 3 * plain["price"]
    assert [ln["qty"] for ln in first["lines"]] == [1, 2]
    seen = footprint(db)
    again = run_json("sell", plain["gtin"], "--op-id", "sale-1", db=db)
    assert again == first
    assert footprint(db) == seen


def test_lookup_and_search(base: Path, plain, cased) -> None:
    out = run("lookup", plain["gtin"], db=base).stdout
    assert plain["sku"] in out and plain["name"] in out
    assert f"Floor       {plain['floor']}" in out and f"Quota       {plain['quota']}" in out
    info = run_json("lookup", cased["case_gtin"], db=base)
    assert info["sku"] == cased["sku"] and info["scan_units"] == cased["pack_qty"]
    assert {"floor", "back", "quota", "held", "holds", "chain", "incoming"} <= info.keys()
    word = plain["name"].split()[0]
    found = run_json("search", word[:3], "--limit", "50", db=base)
    assert 0 < len(found) <= 50
    assert all(word[:3].lower() in x["name"].lower() for x in found)
    assert run("search", word, db=base).stdout.splitlines()[0].split()[:2] == ["SKU", "Name"]


def test_every_write_command(db: Path, plains, cased) -> None:
    """Each write once; four clerks' worth of commands run at the same time on one node file."""
    start = footprint(db)[0]
    a, b, c = plains
    heard_from_hub(db, transfers=[("TR-9", c["sku"], 4, "S002")], grants=[("G-1", c["sku"], 5)])

    def delivery() -> None:
        run("receive", cased["case_gtin"], "2", "--delivery", "DN-1", db=db)  # two cases

    def till() -> None:
        sale = run_json("sell", f"2*{a['gtin']}", db=db)
        assert run_json("return", a["gtin"], "1", "--receipt", sale["receipt"], db=db)["refund"] == a["price"]
        run("return", a["sku"], "1", "--not-resellable", db=db)
        run("count", a["gtin"], "--bin", "floor", "3", db=db)
        assert stock(db, a["sku"])["floor"] == 3
        run("damaged", a["sku"], "1", "--reason", "dropped", db=db)
        run("expired", a["sku"], "1", "--bin", "back", db=db)
        run("lost", a["sku"], "1", db=db)
        run("move", a["sku"], "2", "--from", "back", "--to", "floor", db=db)

    def holds() -> None:
        hold = run_json("hold", b["gtin"], "2", "--customer", "Ann", "--minutes", "30", db=db)
        assert q(db, "SELECT customer, status FROM holds WHERE hold_id = ?", hold["hold_id"])[0][:] == ("Ann", "open")
        run("sell", "--hold", hold["hold_id"], db=db)
        hold2 = run_json("hold", b["sku"], "1", db=db)
        assert "closed" in run("release", hold2["hold_id"], db=db).stdout
        assert "No hold is past its time" in run("expire", db=db).stdout

    def ops() -> None:
        out = run_json("transfer", "out", c["sku"], "1", "--to", "S002", "--transfer-id", "TR-1", db=db)
        assert out["transfer_id"] == "TR-1"
        run("transfer", "in", "TR-9", c["gtin"], "4", "--from", "S002", db=db)
        run("grant", "G-1", c["sku"], "5", db=db)
        run("release-quota", c["sku"], "2", db=db)

    with ThreadPoolExecutor(4) as pool:
        for f in [pool.submit(job) for job in (delivery, till, holds, ops)]:
            f.result()

    rows = [json.loads(x) for x in run("ledger", "--after", str(start), "--json", db=db).stdout.splitlines()]
    assert [r["seq"] for r in rows] == list(range(start + 1, start + 1 + len(rows)))

    def kinds(sku: str) -> list[str]:
        return [r["kind"] for r in rows if r["sku"] == sku]

    assert kinds(cased["sku"]) == ["receive"]
    assert kinds(a["sku"]) == ["sale", "return", "return", "count", "damaged", "expired", "lost", "move"]
    assert kinds(b["sku"]) == ["hold", "hold_converted", "hold", "hold_released"]
    assert kinds(c["sku"]) == ["transfer_out", "transfer_in", "quota_granted", "quota_released"]
    received = next(r for r in rows if r["sku"] == cased["sku"])
    assert received["qty"] == 2 * cased["pack_qty"] and received["ref"] == "DN-1"
    assert next(r for r in rows if r["kind"] == "damaged")["detail"] == {"reason": "dropped"}


def test_ledger_table(base: Path) -> None:
    out = run("ledger", "--after", "3", "--limit", "4", db=base).stdout.splitlines()
    assert out[0].split()[:4] == ["Seq", "Time", "Kind", "SKU"]
    assert [line.split()[0] for line in out[1:]] == ["4", "5", "6", "7"]
    assert all("receive" in line and "opening" in line for line in out[1:])


def test_status(base: Path) -> None:
    out = run("status", db=base).stdout
    assert "S001" in out and "in-hand" in out
    assert re.search(rf"^Last seq\s+{footprint(base)[0]}$", out, re.M)
    assert re.search(r"^Hub\s+none \(standalone\)$", out, re.M)


def test_backup_is_a_readable_sqlite_file(base: Path, tmp_path: Path) -> None:
    dest = tmp_path / "copy.sqlite"
    assert "Backed up" in run("backup", str(dest), db=base).stdout
    assert q(dest, "SELECT max(seq) FROM ledger")[0][0] == footprint(base)[0]
    assert q(dest, "SELECT value FROM meta WHERE key = 'store_id'")[0][0] == "S001"
    again = run("backup", str(dest), db=base, check=False)
    assert again.returncode == 2 and "already exists" in again.stderr


# -- refusals ------------------------------------------------------------------------


def _wrong_check_digit(gtin: str) -> str:
    return gtin[:-1] + str((int(gtin[-1]) + 1) % 10)


@pytest.mark.parametrize("case", ["check digit", "unknown sku", "qty 0", "qty text", "hold unknown",
                                  "grant twice"])
def test_bad_input_is_one_sentence_and_writes_nothing(db: Path, plain, case: str) -> None:
    gtin = plain["gtin"]
    if case == "grant twice":
        heard_from_hub(db, grants=[("G-7", plain["sku"], 1)])
        run("grant", "G-7", plain["sku"], "1", db=db)
    argv, words = {
        "check digit": (["sell", _wrong_check_digit(gtin)], "check digit"),
        "unknown sku": (["sell", "SKU999999"], "SKU999999"),
        "qty 0": (["sell", f"0*{gtin}"], "at least 1"),
        "qty text": (["receive", gtin, "lots"], "'lots'"),
        "hold unknown": (["release", "H-404"], "H-404"),
        "grant twice": (["grant", "G-7", plain["sku"], "1"], "G-7"),
    }[case]
    seen = footprint(db)
    p = run(*argv, db=db, check=False)
    assert p.returncode == 2
    assert p.stdout == ""
    assert len(p.stderr.strip().splitlines()) == 1
    assert words in p.stderr
    assert footprint(db) == seen


def test_json_refusal_names_its_code(db: Path) -> None:
    p = run("sell", "SKU999999", "--json", db=db, check=False)
    assert p.returncode == 2
    assert json.loads(p.stdout)["error"]["code"] == "unknown_sku"
    assert p.stderr.strip() == "SKU SKU999999 is not in this store's catalog."


def test_strict_store_refuses_past_quota(strict_db: Path) -> None:
    row = q(strict_db, "SELECT sku, floor, quota FROM stock WHERE floor > quota AND held = 0 ORDER BY sku LIMIT 1")[0]
    seen = footprint(strict_db)
    p = run("sell", f"{row['quota'] + 1}*{row['sku']}", db=strict_db, check=False)
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1 and "strict" in p.stderr and row["sku"] in p.stderr
    assert footprint(strict_db) == seen
    run("sell", f"{row['quota']}*{row['sku']}", db=strict_db)  # up to the quota is fine
    assert stock(strict_db, row["sku"])["quota"] == 0


def test_missing_node_file_is_one_sentence_and_creates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "nope.sqlite"
    p = run("status", db=db, check=False)
    assert p.returncode == 1
    assert len(p.stderr.strip().splitlines()) == 1 and str(db) in p.stderr and "init" in p.stderr
    assert not db.exists()
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database at all " * 100)
    p = run("lookup", "SKU000001", db=junk, check=False)
    assert p.returncode == 1 and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_refused_init_leaves_no_file(tmp_path: Path, base: Path) -> None:
    db = tmp_path / "s.sqlite"
    p = run("init", "--store", "S042", db=db, check=False)
    assert p.returncode == 2 and "S042" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert not db.exists()
    p = run("init", "--store", "S001", db=base, check=False)  # a file that holds a store already
    assert p.returncode == 2 and "already holds store S001" in p.stderr


# -- help ------------------------------------------------------------------------------


def _commands() -> list[tuple[list[str], str]]:
    """Every (sub)command path and its one-line help, read from the parser itself."""
    out = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {a.dest: a.help for a in action._choices_actions}
                for name, sub in action.choices.items():
                    out.append(([*path, name], helps.get(name) or ""))
                    walk(sub, [*path, name])

    walk(build_parser(), [])
    return out


def test_every_command_has_help() -> None:
    commands = _commands()
    names = {" ".join(p) for p, _ in commands}
    assert {"init", "sell", "return", "receive", "hold", "release", "expire", "count", "damaged", "expired",
            "lost", "move", "transfer", "transfer out", "transfer in", "grant", "release-quota", "orders",
            "hand-over", "lookup", "search", "ledger", "backup", "settings", "close-day", "status", "sync", "recover",
            "run"} == names
    for path, text in commands:
        assert text.strip(), path
        p = run(*path, "--help")
        assert p.stdout.startswith(f"usage: backroom node {' '.join(path)}"), path
        assert text.split()[0] in p.stdout, path
        if path != ["transfer"]:
            assert "--op-id" in p.stdout and "retry" in p.stdout, path
    assert "sell" in run("--help").stdout


def test_installed_backroom_command(base: Path) -> None:
    exe = Path(sys.executable).parent / "backroom"
    if not exe.exists():
        pytest.skip("the backroom console script is not installed in this environment")
    p = subprocess.run([str(exe), "node", "status", "--db", str(base), "--json"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["store_id"] == "S001"
    p = subprocess.run([str(exe), "node", "lookup", "SKU999999", "--db", str(base)], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, "the console script must pass the exit code on"
