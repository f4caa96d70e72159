from __future__ import annotations

import csv
import itertools
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures import Chain, Item, StockLine, demo_chain, generate_chain
from fixtures.chain import main
from node.barcodes import gtin_check_digit, parse_scan

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def chain() -> Chain:
    return demo_chain()


@pytest.fixture(scope="module")
def big() -> Chain:
    return generate_chain(100_000, 500)


def _valid(code: str) -> bool:
    return code.isdigit() and int(code[-1]) == gtin_check_digit(code[:-1])


# ---------------------------------------------------------------- shape


def test_demo_shape(chain: Chain) -> None:
    assert [loc.id for loc in chain.locations] == ["S001", "S002", "S003", "W01"]
    assert [loc.id for loc in chain.stores()] == ["S001", "S002", "S003"]
    assert chain.locations[-1].kind == "warehouse"
    assert chain.locations[0].name.startswith("Store 1 — ")
    assert len(chain.catalog) == 2_000
    assert chain.catalog[0].sku == "SKU000001"
    assert chain.catalog[-1].sku == "SKU002000"


def test_item_lookup(chain: Chain) -> None:
    for item in chain.catalog[::97]:
        assert chain.item(item.sku) is item
    with pytest.raises(KeyError):
        chain.item("SKU999999")


def test_item_fields(chain: Chain) -> None:
    for item in chain.catalog:
        assert 99 <= item.price <= 49_999
        assert 0 <= item.safety_buffer <= 2
        assert item.name and item.name == item.name.strip()
        assert (item.shelf_life_days is not None) == item.perishable
        if item.shelf_life_days is not None:
            assert item.shelf_life_days > 0
        if item.in_store:
            assert item.perishable
            assert item.case_gtin is None


def test_proportions(big: Chain) -> None:
    n = len(big.catalog)
    assert 0.12 < sum(i.perishable for i in big.catalog) / n < 0.18
    assert 0.02 < sum(i.in_store for i in big.catalog) / n < 0.04
    assert 0.17 < sum(i.case_gtin is not None for i in big.catalog) / n < 0.23


def test_names_are_varied(chain: Chain) -> None:
    names = [item.name for item in chain.catalog]
    assert len(set(names)) > 0.8 * len(names)
    first_words = {name.split()[0] for name in names}
    assert len(first_words) > 100
    # A name-prefix search narrows the catalog meaningfully.
    oat = [n for n in names if n.startswith("Oat")]
    assert 0 < len(oat) < len(names) / 20


# ---------------------------------------------------------------- determinism


def test_same_seed_same_chain() -> None:
    a, b = demo_chain(11), demo_chain(11)
    assert a == b
    assert a.catalog == b.catalog
    for loc in a.locations:
        assert list(a.stock(loc.id)) == list(b.stock(loc.id))
    ra, rb = random.Random(3), random.Random(3)
    assert [a.sample_scan(ra) for _ in range(50)] == [b.sample_scan(rb) for _ in range(50)]


def test_stock_is_same_every_call(chain: Chain) -> None:
    assert list(chain.stock("S002")) == list(chain.stock("S002"))


def test_different_seed_different_chain() -> None:
    a, b = demo_chain(1), demo_chain(2)
    assert a.catalog != b.catalog
    assert [i.gtin for i in a.catalog] != [i.gtin for i in b.catalog]
    assert list(a.stock("S001")) != list(b.stock("S001"))


def test_no_global_randomness() -> None:
    random.seed(1)
    a = demo_chain(5)
    random.seed(2)
    b = demo_chain(5)
    assert a == b
    assert list(a.stock("W01")) == list(b.stock("W01"))


def test_stores_differ_from_each_other(chain: Chain) -> None:
    assert list(chain.stock("S001")) != list(chain.stock("S002"))


# ---------------------------------------------------------------- barcodes


@pytest.mark.parametrize("which", ["chain", "big"])
def test_every_barcode_valid_and_unique(which: str, request: pytest.FixtureRequest) -> None:
    c: Chain = request.getfixturevalue(which)
    keys: list[str] = []
    for item in c.catalog:
        assert len(item.gtin) == 13 and _valid(item.gtin), item
        keys.append("0" + item.gtin)
        if item.case_gtin is not None:
            assert len(item.case_gtin) == 14 and _valid(item.case_gtin), item
            assert item.case_gtin[0] in "12345678"
            keys.append(item.case_gtin)
    assert len(keys) == len(set(keys))


def test_barcodes_parse(chain: Chain) -> None:
    for item in chain.catalog:
        scan = parse_scan(item.gtin)
        if item.in_store:
            assert item.gtin[:2] in {"21", "22", "23", "24"}
            assert scan.kind == "in_store"
            assert scan.embedded_price == 0
            assert scan.lookup_key == "0" + item.gtin
        else:
            assert item.gtin[0] != "2"
            assert scan.kind == "item"
            assert scan.lookup_key == "0" + item.gtin
        if item.case_gtin is not None:
            case = parse_scan(item.case_gtin)
            assert case.kind == "case"
            assert case.gtin == item.case_gtin
        assert chain.item_by_barcode(scan.lookup_key) is item


def test_pack_qty_iff_case(big: Chain) -> None:
    for item in big.catalog:
        assert (item.pack_qty > 1) == (item.case_gtin is not None), item
        assert item.pack_qty >= 1


def test_sample_scans_parse_and_resolve(chain: Chain) -> None:
    rng = random.Random(42)
    kinds: set[str] = set()
    gs1 = 0
    for _ in range(3_000):
        text = chain.sample_scan(rng)
        scan = parse_scan(text)
        kinds.add(scan.kind)
        item = chain.item_by_barcode(scan.lookup_key)
        if scan.kind == "in_store":
            assert item.in_store
            assert scan.embedded_price is not None and scan.embedded_price > 0
        if scan.expiry is not None:
            gs1 += 1
            assert item.perishable and scan.batch
    assert kinds == {"item", "case", "in_store"}
    assert gs1 > 0


# ---------------------------------------------------------------- stock


def test_stock_lines(chain: Chain) -> None:
    n = len(chain.catalog)
    for store in chain.stores():
        lines = list(chain.stock(store.id))
        assert all(isinstance(line, StockLine) for line in lines)
        assert all(line.location == store.id for line in lines)
        assert {line.bin for line in lines} == {"floor", "back"}
        assert all(line.qty >= 0 for line in lines)
        assert any(line.qty == 0 for line in lines)
        pairs = [(line.sku, line.bin) for line in lines]
        assert len(pairs) == len(set(pairs))
        stocked = {line.sku for line in lines}
        assert 0.6 * n < len(stocked) < 0.8 * n
        for line in lines:
            chain.item(line.sku)
    warehouse = list(chain.stock("W01"))
    assert {line.bin for line in warehouse} == {"back"}
    for line in warehouse:
        item = chain.item(line.sku)
        assert line.qty % item.pack_qty == 0


def test_unknown_location(chain: Chain) -> None:
    with pytest.raises(KeyError):
        chain.stock("S999")


def test_big_chain_is_lazy_and_correct() -> None:
    started = time.perf_counter()
    big = generate_chain(100_000, 500)
    elapsed = time.perf_counter() - started
    assert elapsed < 30  # target ~1.5 s; only guard against pathologies here
    assert len(big.catalog) == 100_000
    assert len(big.stores()) == 500
    assert big.catalog[-1].sku == "SKU100000"
    assert big.item("SKU054321").sku == "SKU054321"
    assert len({loc.id for loc in big.locations}) == 501
    assert len({loc.name for loc in big.locations}) == 501
    assert big.stores()[-1].id == "S500"

    stock = big.stock("S500")
    assert isinstance(stock, Iterator)
    assert iter(stock) is stock
    first = list(itertools.islice(stock, 5))
    assert len(first) == 5 and all(line.location == "S500" for line in first)
    # Each call starts afresh and agrees with the last.
    assert list(itertools.islice(big.stock("S500"), 5)) == first
    # The chain holds no stock: only its seed, locations and catalog.
    assert set(vars(big)) <= {"seed", "locations", "catalog", "_by_sku", "_by_barcode"}


# ---------------------------------------------------------------- CLI


def test_cli_writes_csvs(tmp_path: Path) -> None:
    assert main(["--skus", "300", "--stores", "2", "--seed", "3", "--out", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "catalog.csv", "locations.csv", "stock-S001.csv", "stock-S002.csv", "stock-W01.csv",
    ]
    with (tmp_path / "catalog.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    chain = generate_chain(300, 2, seed=3)
    assert len(rows) == 300
    assert rows[0]["sku"] == chain.catalog[0].sku
    assert rows[0]["gtin"] == chain.catalog[0].gtin
    assert [r["name"] for r in rows] == [i.name for i in chain.catalog]
    with (tmp_path / "stock-S001.csv").open(newline="", encoding="utf-8") as f:
        stock_rows = list(csv.DictReader(f))
    assert len(stock_rows) == sum(1 for _ in chain.stock("S001"))


def test_cli_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "fixtures.chain", "--help"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    for word in ("--skus", "--stores", "--out", "--seed", "catalog.csv"):
        assert word in out


def test_item_is_frozen(chain: Chain) -> None:
    item: Item = chain.catalog[0]
    with pytest.raises(AttributeError):
        item.price = 1  # type: ignore[misc]
