"""The clerk's terminal, driven by Textual's pilot: the real app over a real node file, at 80x24.

Each test gets its own copy of a store node file (store S001 of the demo
chain), made once per module per policy. Scans are either typed key by key
(one test does that, as a scanner would) or set on the scan field and
submitted with Enter. Whatever goes wrong must show up as a plain sentence
on the screen, never a traceback.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Label, OptionList, Static

from fixtures.chain import demo_chain
from node.barcodes import make_gtin13
from node.rules import Policy
from node.service import Node, initialise_from_chain
from tests.conftest import ManualClock
from tui.app import BackroomApp
from tui.screens.dialogs import Confirm, Quantity, Recall, Receipt, Tender
from tui.screens.menus import PutAside
from tui.screens.forms import OperationForm
from tui.screens.lookup import LookupScreen
from tui.screens.sale import SaleScreen

SIZE = (80, 24)
STORE = "S001"


# -- the store files ------------------------------------------------------------------


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One initialised node file per policy, made once; tests copy them."""
    base = tmp_path_factory.mktemp("tui-templates")
    chain = demo_chain()
    out = {}
    for policy in (Policy.IN_HAND, Policy.STRICT):
        path = base / f"{policy}.sqlite"
        node = Node(path)
        initialise_from_chain(node, chain, STORE, policy=policy)
        node.close()  # checkpoints the WAL: the main file alone is the store
        out[str(policy)] = path
    return out


def copy_store(templates: dict[str, Path], dest: Path, policy: str = "in-hand") -> Path:
    path = dest / "store.sqlite"
    shutil.copyfile(templates[policy], path)
    return path


@pytest.fixture
def store(templates: dict[str, Path], tmp_path: Path) -> Path:
    return copy_store(templates, tmp_path)


@pytest.fixture
def strict_store(templates: dict[str, Path], tmp_path: Path) -> Path:
    return copy_store(templates, tmp_path, "strict")


def pick_items(path: Path, where: str, n: int = 1) -> list[dict]:
    """Items of the store (plain GTIN-13, no case code, not weighed in store) matching `where`."""
    node = Node(path)
    try:
        rows = [dict(r) for r in node.conn.execute(
            "SELECT i.sku, i.gtin, i.name, i.price, i.perishable, s.floor, s.back, s.quota FROM items i "
            "JOIN stock s ON s.sku = i.sku WHERE i.in_store = 0 AND i.case_gtin IS NULL AND "
            f"{where} ORDER BY i.sku LIMIT ?", (n,))]
    finally:
        node.close()
    assert len(rows) == n, f"the demo store has fewer than {n} items where {where}"
    return rows


def plain_items(path: Path, n: int) -> list[dict]:
    return pick_items(path, "i.perishable = 0 AND s.quota >= 8 AND s.floor >= 2", n)


def ledger(path: Path, after: int = 0) -> list[dict]:
    node = Node(path)
    try:
        return node.ledger(after=after, limit=100_000)
    finally:
        node.close()


def last_seq(path: Path) -> int:
    node = Node(path)
    try:
        return node.last_seq()
    finally:
        node.close()


# -- driving the app ----------------------------------------------------------------------


def make_app(path: Path, tmp_path: Path, clock: ManualClock | None = None) -> BackroomApp:
    kw = {"clock": clock} if clock else {}
    return BackroomApp(path, terminal="T1", clerk="ann", receipts_dir=tmp_path / "receipts", **kw)


def run(app: BackroomApp, scenario: Callable[[Pilot], Awaitable[None]]) -> None:
    """Run `scenario` against the app at 80x24; afterwards no worker failed and nothing crashed."""

    async def go() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await scenario(pilot)
            assert_no_traceback(app)
            failed = [w for w in app.workers if w.error is not None]
            assert not failed, f"workers failed: {[(w.name, w.error) for w in failed]}"
        # run_test re-raises an exception the app died of; getting here means it did not.

    asyncio.run(go())


def screen_text(app: BackroomApp) -> str:
    """What the terminal shows right now (dialogs over the screen below them), as plain text."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, record=True,
                      legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def assert_no_traceback(app: BackroomApp) -> None:
    text = screen_text(app)
    for bad in ("Traceback", "Error:", "Exception", 'File "'):
        assert bad not in text, f"the screen shows {bad!r}:\n{text}"


def label_text(app: BackroomApp, selector: str) -> str:
    w = app.screen.query_one(selector)
    return str(w.content if isinstance(w, (Label, Static)) else w.render())


def message(app: BackroomApp) -> str:
    return label_text(app, "#message")


def message_is_error(app: BackroomApp) -> bool:
    return app.screen.query_one("#message", Static).has_class("-error")


def assert_plain_sentence(text: str) -> None:
    assert text and (text[0].isupper() or text[0] in "'\"") and text.rstrip().endswith("."), f"not a plain sentence: {text!r}"
    for bad in ("Traceback", "Error", "Exception", "sqlite3", "biip", "KeyError", "None"):
        assert bad not in text, f"{bad!r} in a clerk's message: {text!r}"


def sale(app: BackroomApp) -> SaleScreen:
    assert isinstance(app.screen, SaleScreen), f"expected the sale screen, on {app.screen!r}"
    return app.screen


def cart(app: BackroomApp) -> list[tuple[str, int]]:
    return [(ln.sku, ln.qty) for ln in app.sale.cart]


async def scan(pilot: Pilot, code: str) -> None:
    """A scan as a fast scanner delivers it: the whole code, then Enter."""
    field = pilot.app.screen.query_one("#scan", Input)
    assert field.has_focus, "the scan field should have focus on the sale screen"
    field.value = code
    await pilot.press("enter")
    await pilot.pause()


async def type_scan(pilot: Pilot, code: str) -> None:
    """A scan typed key by key, as a keyboard-wedge scanner does."""
    await pilot.press(*code, "enter")
    await pilot.pause()


async def wait_for(pilot: Pilot, cond: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; the screen shows:\n{screen_text(pilot.app)}")
        await pilot.pause(0.05)


async def written(pilot: Pilot) -> None:
    """Wait until the writer thread has done what was asked and its answer is on screen."""
    await wait_for(pilot, lambda: pilot.app.writer.pending == 0, "the node file's writes")
    await pilot.pause()


async def set_qty(pilot: Pilot, qty: str) -> None:
    """F3 on the selected line, a new quantity, Enter."""
    await pilot.press("f3")
    assert isinstance(pilot.app.screen, Quantity)
    pilot.app.screen.query_one("#qty", Input).value = qty
    await pilot.press("enter")
    await pilot.pause()


def wrong_check_digit(gtin: str) -> str:
    return gtin[:-1] + str((int(gtin[-1]) + 1) % 10)


# -- the sale ---------------------------------------------------------------------------------


def test_full_sale_typed_and_set_scans_void_qty_cash_change_receipt_and_ledger(store: Path, tmp_path: Path) -> None:
    a, b, c = plain_items(store, 3)
    app = make_app(store, tmp_path)
    before = last_seq(store)
    seen: dict = {}

    async def scenario(pilot: Pilot) -> None:
        s = sale(app)
        assert s.query_one("#scan", Input).has_focus
        await type_scan(pilot, a["gtin"])  # one real scan, key by key
        assert cart(app) == [(a["sku"], 1)]
        await scan(pilot, b["gtin"])
        await scan(pilot, b["gtin"])  # the same item again: the line's quantity goes up
        assert cart(app) == [(a["sku"], 1), (b["sku"], 2)]
        assert s.query_one("#lines").row_count == 2
        assert a["name"][:20] in screen_text(app)
        await scan(pilot, c["gtin"])
        assert len(app.sale.cart) == 3
        await pilot.press("f10")  # void the selected line: the one just scanned
        assert cart(app) == [(a["sku"], 1), (b["sku"], 2)]
        assert message(app) == f"Voided {c['name']}."
        await pilot.press("up")  # onto a's line
        await set_qty(pilot, "3")
        await set_qty(pilot, "2")
        assert cart(app) == [(a["sku"], 2), (b["sku"], 2)]
        await set_qty(pilot, "0")  # not below one: the dialog says so and F10 voids
        assert isinstance(app.screen, Quantity) and "at least 1" in str(app.screen.query_one("#problem").content)
        await pilot.press("escape")
        assert cart(app) == [(a["sku"], 2), (b["sku"], 2)]
        await set_qty(pilot, "1")
        assert cart(app) == [(a["sku"], 1), (b["sku"], 2)]
        assert s.query_one("#scan", Input).has_focus and s.query_one("#scan", Input).value == ""
        total = a["price"] + 2 * b["price"]
        assert f"3 items    TOTAL {total // 100}.{total % 100:02d}" in label_text(app, "#totals")
        assert len(app.scan_latencies) == 4 and all(0 < x < 5000 for x in app.scan_latencies)

        await pilot.press("f12")
        assert isinstance(app.screen, Tender)
        paid = (total // 100 + 20) * 100  # twenty-odd more than the total, in whole units
        await pilot.press(*str(paid // 100))
        change = paid - total
        assert f"Change due: {change // 100}.{change % 100:02d}" in label_text(app, "#problem")
        await pilot.press("enter")
        await written(pilot)
        assert isinstance(app.screen, Receipt)
        receipt_text = str(app.screen.query_one("#receipt-text", Static).content)
        assert a["name"][:15] in receipt_text and b["name"][:15] in receipt_text
        seen["receipt_text"] = receipt_text
        assert_no_traceback(app)
        await pilot.press("enter")  # next customer
        s = sale(app)
        assert app.sale.cart == []
        msg = message(app)
        assert msg.startswith("Sold: receipt S001-T1-000001") and f"Change due {change // 100}." in msg
        seen["msg"] = msg
        assert s.query_one("#scan", Input).has_focus

    run(app, scenario)
    files = list((tmp_path / "receipts").glob("*.txt"))
    assert [f.name for f in files] == ["S001-T1-000001.txt"]
    assert files[0].read_text() == seen["receipt_text"]
    sold = [e for e in ledger(store, before) if e["kind"] == "sale"]
    assert sorted((e["sku"], e["qty"], e["ref"], e["terminal"], e["clerk"]) for e in sold) == sorted(
        [(a["sku"], 1, "S001-T1-000001", "T1", "ann"), (b["sku"], 2, "S001-T1-000001", "T1", "ann")])
    assert sum(e["amount"] for e in sold) == a["price"] + 2 * b["price"]
    assert all(e["over_quota"] == 0 for e in sold)


def test_multiplier_scan_and_a_bad_multiplier(store: Path, tmp_path: Path) -> None:
    (a,) = plain_items(store, 1)
    app = make_app(store, tmp_path)

    async def scenario(pilot: Pilot) -> None:
        await scan(pilot, f"3*{a['gtin']}")
        assert cart(app) == [(a["sku"], 3)]
        await scan(pilot, f"x*{a['gtin']}")
        assert cart(app) == [(a["sku"], 3)]
        assert message_is_error(app)
        assert "is not a quantity" in message(app)

    run(app, scenario)


def test_park_and_recall(store: Path, tmp_path: Path) -> None:
    a, b = plain_items(store, 2)
    app = make_app(store, tmp_path)
    before = last_seq(store)

    async def scenario(pilot: Pilot) -> None:
        await scan(pilot, a["gtin"])
        await scan(pilot, f"2*{b['gtin']}")
        sale_id = app.sale.sale_id
        await pilot.press("f8")
        await written(pilot)
        assert app.sale.cart == []
        assert message(app).startswith("Sale parked (2 lines)")
        assert len(app.node.parked_sales()) == 1
        await pilot.press("f9")
        assert isinstance(app.screen, Recall)
        options = app.screen.query_one(OptionList)
        assert options.option_count == 1
        if options.highlighted is None:
            await pilot.press("down")
        await pilot.press("enter")
        await written(pilot)
        sale(app)
        assert cart(app) == [(a["sku"], 1), (b["sku"], 2)]
        assert app.sale.sale_id == sale_id  # the same sale, so a retried payment is not sold twice
        assert message(app) == "Recalled a sale of 2 lines."
        assert app.node.parked_sales() == []
        await pilot.press("f9")  # nothing parked now
        assert message(app) == "No parked sales."
        await pilot.press("f12", "c")  # card
        await written(pilot)
        assert isinstance(app.screen, Receipt)
        await pilot.press("enter")
        assert app.sale.cart == []

    run(app, scenario)
    sold = [e for e in ledger(store, before) if e["kind"] == "sale"]
    assert sorted((e["sku"], e["qty"]) for e in sold) == sorted([(a["sku"], 1), (b["sku"], 2)])


# -- quota ------------------------------------------------------------------------------------------


LOW_QUOTA = "i.perishable = 0 AND s.quota BETWEEN 1 AND 3 AND s.floor + s.back > s.quota"


def test_past_quota_is_refused_under_strict(strict_store: Path, tmp_path: Path) -> None:
    (low,) = pick_items(strict_store, LOW_QUOTA)
    q = low["quota"]
    app = make_app(strict_store, tmp_path)
    before = last_seq(strict_store)

    async def scenario(pilot: Pilot) -> None:
        await scan(pilot, f"{q}*{low['gtin']}")
        assert cart(app) == [(low["sku"], q)]
        await scan(pilot, low["gtin"])  # one past the quota
        assert isinstance(app.screen, SaleScreen), "strict refuses outright: no question asked"
        assert cart(app) == [(low["sku"], q)]
        assert message_is_error(app)
        msg = message(app)
        assert f"Only {q} of {low['sku']} may be sold here without the hub" in msg and "strict" in msg
        assert_plain_sentence(msg)
        await set_qty(pilot, str(q + 1))  # the clerk sets the line by hand past the quota...
        await pilot.press("f12", "enter")  # ...and the node refuses the payment under strict
        await written(pilot)
        if isinstance(app.screen, Receipt):  # pragma: no cover - would mean strict sold past quota
            raise AssertionError("strict sold past the store's quota")
        sale(app)
        assert message_is_error(app)
        assert_plain_sentence(message(app))
        assert cart(app) == [(low["sku"], q + 1)], "a refused payment keeps the sale"

    run(app, scenario)
    assert [e for e in ledger(strict_store, before) if e["kind"] == "sale"] == []
    # Both refusals are walk-ins turned away for want of quota, noted apart from the ledger: the scan the till
    # refused (through the writer thread) and the payment the node refused.
    node = Node(strict_store)
    try:
        got = [(r[0], r[1], r[2]) for r in node.conn.execute(
            "SELECT source, sku, qty FROM refused_sales ORDER BY id")]
        assert got == [("till", low["sku"], 1), ("sale", low["sku"], q + 1)]
        (day,) = node.conn.execute("SELECT DISTINCT business_date FROM refused_sales").fetchone()
        assert node.refused_sales(day) == {low["sku"]: (q + 2, 2)}
        assert node.last_seq() == before, "a refusal writes nothing to the ledger"
    finally:
        node.close()


def test_past_quota_in_hand_asks_once_and_records_over_quota(store: Path, tmp_path: Path) -> None:
    (low,) = pick_items(store, LOW_QUOTA)
    q = low["quota"]
    app = make_app(store, tmp_path)
    before = last_seq(store)

    async def scenario(pilot: Pilot) -> None:
        await scan(pilot, f"{q}*{low['gtin']}")
        assert cart(app) == [(low["sku"], q)]
        await scan(pilot, low["gtin"])
        assert isinstance(app.screen, Confirm)
        assert "customer's hand" in app.screen.question
        assert "Enter = yes" in screen_text(app)
        await pilot.press("enter")  # yes, it is in their hand
        sale(app)
        assert cart(app) == [(low["sku"], q + 1)]
        await pilot.pause(0.3)
        assert "-1 OVER" in screen_text(app), screen_text(app)
        await scan(pilot, low["gtin"])  # asked once per sale and item
        assert isinstance(app.screen, SaleScreen)
        assert cart(app) == [(low["sku"], q + 2)]
        await pilot.press("f12", "enter")  # exact cash
        await written(pilot)
        assert isinstance(app.screen, Receipt)
        await pilot.press("enter")
        assert app.sale.cart == []

    run(app, scenario)
    sold = [e for e in ledger(store, before) if e["kind"] == "sale"]
    assert sum(e["qty"] for e in sold) == q + 2
    assert sum(e["over_quota"] for e in sold) == 2


def test_past_quota_in_hand_declined_adds_nothing(store: Path, tmp_path: Path) -> None:
    (low,) = pick_items(store, LOW_QUOTA)
    q = low["quota"]
    app = make_app(store, tmp_path)

    async def scenario(pilot: Pilot) -> None:
        await scan(pilot, f"{q}*{low['gtin']}")
        await scan(pilot, low["gtin"])
        assert isinstance(app.screen, Confirm)
        await pilot.press("escape")
        sale(app)
        assert cart(app) == [(low["sku"], q)]
        assert message(app) == f"{low['name']} not added."

    run(app, scenario)


# -- bad scans -------------------------------------------------------------------------------------


def test_bad_scans_say_what_is_wrong_and_leave_the_sale_alone(store: Path, tmp_path: Path) -> None:
    (a,) = plain_items(store, 1)
    (fresh,) = pick_items(store, "i.perishable = 1 AND s.quota >= 2")
    node = Node(store)
    unknown = next(g for g in (make_gtin13(f"99{n:010d}") for n in range(1, 100))
                   if node.conn.execute("SELECT 1 FROM barcodes WHERE code = ?", (g.zfill(14),)).fetchone() is None)
    node.close()
    app = make_app(store, tmp_path)
    expired = f"01{fresh['gtin'].zfill(14)}17200131"  # (17) 2020-01-31: long past
    next_year = datetime.now(UTC) + timedelta(days=365)
    good_date = f"01{fresh['gtin'].zfill(14)}17{next_year:%y%m%d}"  # (17) a year from now

    async def scenario(pilot: Pilot) -> None:
        await scan(pilot, a["gtin"])
        want = [(a["sku"], 1)]
        for code, says in [
            (wrong_check_digit(a["gtin"]), "check digit"),
            (unknown, "not an item this store sells"),
            (expired, "expired on 2020-01-31"),
            ("hello", ""),
            ("SKU999999999", "not in this store's catalog"),
        ]:
            await scan(pilot, code)
            assert isinstance(app.screen, SaleScreen)
            assert cart(app) == want, f"{code!r} changed the sale"
            assert message_is_error(app), f"{code!r}: {message(app)!r}"
            assert says in message(app), f"{code!r}: {message(app)!r}"
            assert_plain_sentence(message(app))
            assert_no_traceback(app)
        await scan(pilot, good_date)  # the same perishable within its date sells
        assert cart(app) == [(a["sku"], 1), (fresh["sku"], 1)]
        assert not message_is_error(app)
        await scan(pilot, "   ")  # an empty scan does nothing
        assert cart(app) == [(a["sku"], 1), (fresh["sku"], 1)]

    run(app, scenario)


# -- check in the back, holds ---------------------------------------------------------------------


def test_lookup_by_name_as_you_type_and_by_scan(store: Path, tmp_path: Path) -> None:
    (a,) = plain_items(store, 1)
    word = a["name"].split()[0]
    app = make_app(store, tmp_path)

    async def scenario(pilot: Pilot) -> None:
        await pilot.press("f2")
        assert isinstance(app.screen, LookupScreen)
        results = app.screen.query_one("#results", DataTable)
        await pilot.press(*word[:4])  # a name, as the clerk types it
        await wait_for(pilot, lambda: f"match '{word[:4]}'" in message(app), "name search results")
        assert results.row_count > 0
        skus = [str(k.value) for k in results.rows]
        assert all(word[:4].lower() in app.reader.lookup(s)["name"].lower() for s in skus[:5])
        await pilot.press("down", "enter")  # to the results, open the first
        await wait_for(pilot, lambda: app.screen.current is not None, "the item's detail")
        assert app.screen.current["sku"] == skus[0]

        query = app.screen.query_one("#query", Input)
        query.focus()
        query.value = a["gtin"]
        await pilot.press("enter")
        await wait_for(pilot, lambda: (app.screen.current or {}).get("sku") == a["sku"], "the scanned item")
        detail = label_text(app, "#detail")
        assert a["name"] in detail and a["sku"] in detail
        assert f"Floor {a['floor']}   Back {a['back']}" in detail
        assert "no picture from the hub yet" in detail

        query.value = wrong_check_digit(a["gtin"])
        await pilot.press("enter")
        await wait_for(pilot, lambda: message_is_error(app), "an error for a bad scan")
        assert "check digit" in message(app)
        assert_plain_sentence(message(app))

        query.value = ""
        await pilot.press(*"zqxj")
        await wait_for(pilot, lambda: "Nothing matches" in message(app), "no matches")

        await pilot.press("escape")
        sale(app)

    run(app, scenario)


def test_put_aside_expires_and_release(store: Path, tmp_path: Path) -> None:
    (a,) = plain_items(store, 1)
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    app = make_app(store, tmp_path, clock=clock)
    before = last_seq(store)

    async def open_item(pilot: Pilot) -> None:
        query = app.screen.query_one("#query", Input)
        query.value = a["gtin"]
        await pilot.press("enter")
        await wait_for(pilot, lambda: (app.screen.current or {}).get("sku") == a["sku"], "the item")

    async def put_aside(pilot: Pilot, qty: str, minutes: str, customer: str) -> None:
        await pilot.press("f5")
        assert isinstance(app.screen, PutAside)
        app.screen.query_one("#qty", Input).value = qty
        await pilot.press("enter")  # to minutes
        app.screen.query_one("#minutes", Input).value = minutes
        await pilot.press("enter")  # to customer
        await pilot.press(*customer, "enter")
        await written(pilot)

    async def scenario(pilot: Pilot) -> None:
        await pilot.press("f2")
        await pilot.press("f5")  # nothing looked up yet
        assert message(app) == "Look an item up first."
        await open_item(pilot)
        holds = app.screen.query_one("#holds", DataTable)

        await put_aside(pilot, "2", "10", "Bea")
        assert isinstance(app.screen, LookupScreen)
        assert message(app).startswith(f"Put aside 2 of {a['name']} for 10 min")
        await wait_for(pilot, lambda: holds.row_count == 1, "the hold in the table")
        assert "Held 2" in label_text(app, "#detail")
        assert app.node.balance(a["sku"]).held == 2

        clock.advance(minutes=11)
        app.expire_holds()
        await written(pilot)
        assert app.node.open_holds(a["sku"]) == []
        assert app.node.balance(a["sku"]).held == 0
        app.screen.refresh_current()
        await wait_for(pilot, lambda: holds.row_count == 0, "the expired hold to leave the table")

        await put_aside(pilot, "1", "abc", "Cy")  # a bad number is refused in the dialog
        # the dialog stayed open, saying why
        assert isinstance(app.screen, PutAside)
        assert "Minutes must be a whole number" in label_text(app, "#problem")
        await pilot.press("escape")
        await put_aside(pilot, "1", "30", "Cy")
        await wait_for(pilot, lambda: holds.row_count == 1, "the second hold")
        await pilot.press("f6")
        assert message(app).startswith("Released hold")
        assert app.node.open_holds(a["sku"]) == []
        await wait_for(pilot, lambda: holds.row_count == 0, "the released hold to leave the table")
        await pilot.press("f6")
        assert message(app) == "This item has no holds."

        await put_aside(pilot, "1", "30", "Di")  # and one sold from the back
        await wait_for(pilot, lambda: holds.row_count == 1, "the third hold")
        await pilot.press("f7")
        sale(app)
        assert [(ln.sku, ln.qty, ln.hold_id is not None) for ln in app.sale.cart] == [(a["sku"], 1, True)]
        await pilot.press("f3")
        assert app.sale.cart[0].qty == 1 and message_is_error(app)
        await pilot.press("f12", "c")
        await written(pilot)
        assert isinstance(app.screen, Receipt)
        await pilot.press("enter")

    run(app, scenario)
    kinds = [e["kind"] for e in ledger(store, before)]
    assert kinds == ["hold", "hold_expired", "hold", "hold_released", "hold", "hold_converted"]


# -- the forms ------------------------------------------------------------------------------------


STOCK_KEY = {"return": "r", "receive": "d", "count": "c", "write_off": "w", "move": "m"}


async def fill_form(pilot: Pilot, kind: str, values: dict[str, str], *, typed: bool = False) -> None:
    """Open a form from the stock menu (F4, then its letter), fill it in field by field with Enter,
    the last Enter records."""
    if not isinstance(pilot.app.screen, OperationForm):
        await pilot.press("f4", STOCK_KEY[kind])
    form = pilot.app.screen
    assert isinstance(form, OperationForm)
    names = [f.name for f in form.spec.fields]
    form.query_one(f"#f-{names[0]}", Input).focus()
    await pilot.pause()
    for i, name in enumerate(names):
        field = form.query_one(f"#f-{name}", Input)
        assert field.has_focus, f"Enter should have moved to {name}"
        if name in values:
            if typed:
                field.value = ""
                await pilot.press(*values[name])
            else:
                field.value = values[name]
        await pilot.press("enter")
    await written(pilot)


def test_return_receive_count_write_off_move_via_the_forms(store: Path, tmp_path: Path) -> None:
    (a,) = pick_items(store, "i.perishable = 0 AND s.floor >= 3 AND s.back >= 3")
    app = make_app(store, tmp_path)
    before = last_seq(store)

    async def scenario(pilot: Pilot) -> None:
        await fill_form(pilot, "receive", {"code": a["gtin"], "qty": "5", "delivery": "DN-1"}, typed=True)
        assert message(app) == f"Received 5 of {a['name']} into back."
        assert app.screen.query_one("#f-code", Input).has_focus  # ready for the next one
        await pilot.press("escape")

        await fill_form(pilot, "return", {"code": a["gtin"], "qty": "1", "resellable": "yes"})
        assert message(app).startswith(f"Returned 1 of {a['name']}")
        await pilot.press("escape")

        await fill_form(pilot, "count", {"code": a["sku"], "bin": "floor", "counted": str(a["floor"] - 1)})
        assert message(app) == f"Counted {a['floor'] - 1} of {a['name']} in floor; the book said {a['floor']}."
        await pilot.press("escape")

        await fill_form(pilot, "write_off", {"code": a["gtin"], "qty": "1", "kind": "damaged", "bin": "floor",
                                      "reason": "dropped"})
        assert message(app).startswith(f"Wrote off 1 of {a['name']} as damaged.")
        await pilot.press("escape")

        await fill_form(pilot, "move", {"code": a["gtin"], "qty": "2", "from_bin": "back", "to_bin": "floor"})
        assert message(app) == f"Moved 2 of {a['name']} from back to floor."

        # what a clerk gets wrong is said plainly and records nothing
        seq = app.node.last_seq()
        for values, says in [
            ({"code": a["gtin"], "qty": "two"}, "Units must be a whole number, not 'two'."),
            ({"code": a["gtin"], "to_bin": "attic"}, "To must be one of floor, back, not 'attic'."),
            ({"code": wrong_check_digit(a["gtin"])}, "check digit"),
            ({"code": "9" * 13}, ""),
            ({"code": ""}, "Item (scan or SKU) is needed."),
            ({"qty": "999999"}, ""),
        ]:
            await fill_form(pilot, "move", {"code": a["gtin"], "qty": "1", "from_bin": "back", "to_bin": "floor",
                                          **values})
            assert isinstance(app.screen, OperationForm)
            assert message_is_error(app) and says in message(app), (values, message(app))
            assert_plain_sentence(message(app))
            assert_no_traceback(app)
        assert app.node.last_seq() == seq
        await pilot.press("escape")
        sale(app)

    run(app, scenario)
    got = [(e["kind"], e["sku"], e["qty"]) for e in ledger(store, before)]
    assert [k for k, _, _ in got] == ["receive", "return", "count", "damaged", "move"]
    assert all(s == a["sku"] for _, s, _ in got)
    entries = ledger(store, before)
    assert entries[0]["back_delta"] == 5
    assert entries[2]["floor_delta"] == -1
    assert entries[3]["floor_delta"] == -1 and entries[3]["detail"].get("reason", "dropped") == "dropped"
    assert (entries[4]["back_delta"], entries[4]["floor_delta"]) == (-2, 2)


# -- 80x24 ----------------------------------------------------------------------------------------


def test_everything_fits_at_80x24(store: Path, tmp_path: Path) -> None:
    a, b = plain_items(store, 2)
    app = make_app(store, tmp_path)

    def visible(selector: str) -> None:
        w = app.screen.query_one(selector)
        r = w.region
        assert r.height >= 1 and r.width >= 10, f"{selector} has no room: {r}"
        assert r.bottom <= SIZE[1] and r.right <= SIZE[0], f"{selector} is off screen: {r}"

    async def scenario(pilot: Pilot) -> None:
        await scan(pilot, a["gtin"])
        await scan(pilot, b["gtin"])
        for sel in ("#title", "#lines", "#totals", "#message", "#scan", "StatusBar", "Footer"):
            visible(sel)
        assert app.screen.query_one("#scan", Input).region.height == 3
        await pilot.press("f2")
        for sel in ("#query", "#results", "#detail", "#holds", "#message", "StatusBar"):
            visible(sel)
        await pilot.press("escape", "f4", "w")
        for sel in ("#f-code", "#f-qty", "#f-kind", "#f-bin", "#f-reason", "#message", "StatusBar"):
            visible(sel)
        await pilot.press("escape", "f12")
        visible("#cash")
        await pilot.press("9", "9", "9", "9")
        visible("#problem")

    run(app, scenario)


# -- online / offline ------------------------------------------------------------------------------


@pytest.mark.slow
def test_status_bar_goes_offline_when_the_hub_stops_and_online_when_it_returns(tmp_path: Path) -> None:
    from node.runner import Runner
    from tests.hubfixtures import HubProcess, backroom

    hub_url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    done = backroom("hub", "--db", hub_url, "init")
    assert done.returncode == 0, done.stderr
    done = backroom("hub", "--db", hub_url, "token", "issue", "--role", "store", "--store", STORE)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]
    hub = HubProcess(hub_url, log_dir=tmp_path).start()
    runner = None
    try:
        node_file = tmp_path / "store.sqlite"
        done = backroom("node", "init", "--db", str(node_file), "--store", STORE, "--hub", hub.url, "--token", token)
        assert done.returncode == 0, done.stderr
        (a,) = plain_items(node_file, 1)
        runner = Runner(str(node_file), pull_every=0.5)
        runner.start()
        app = make_app(node_file, tmp_path)

        def bar() -> str:
            return str(app.screen.query_one("StatusBar").content)

        def shows(word: str) -> Callable[[], bool]:
            return lambda: bar().startswith(word) and word in screen_text(app)

        async def scenario(pilot: Pilot) -> None:
            nonlocal hub
            await wait_for(pilot, shows("ONLINE"), "ONLINE", timeout=15)
            await wait_for(pilot, lambda: "· 0 waiting" in bar(), "everything pushed", timeout=15)
            assert not app.screen.query_one("StatusBar").has_class("-offline")

            hub.stop()  # by its pid
            await wait_for(pilot, shows("OFFLINE"), "OFFLINE", timeout=20)
            assert app.screen.query_one("StatusBar").has_class("-offline")
            # selling goes on while the hub is away; the entries wait
            await scan(pilot, a["gtin"])
            await pilot.press("f12", "enter")
            await written(pilot)
            assert isinstance(app.screen, Receipt)
            await pilot.press("enter")
            await wait_for(pilot, lambda: " 0 waiting" not in bar(), "the sale waiting to be pushed", timeout=10)
            assert_no_traceback(app)

            hub = HubProcess(hub_url, port=hub.port, log_dir=tmp_path).start()  # the same address again
            await wait_for(pilot, shows("ONLINE"), "ONLINE again", timeout=20)
            await wait_for(pilot, lambda: "· 0 waiting" in bar(), "the sale pushed", timeout=15)
            assert not app.screen.query_one("StatusBar").has_class("-offline")

        run(app, scenario)
    finally:
        if runner is not None:
            runner.stop()
        hub.stop()
