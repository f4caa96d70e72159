"""Receipts fit their printer: no line wider than the receipt, whatever the names and amounts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from node.bounds import MAX_UNIT_PRICE, MIN_RECEIPT_WIDTH
from node.present import money, receipt_text

names = st.text(st.characters(min_codepoint=32, max_codepoint=0x24F), min_size=1, max_size=200)
lines = st.lists(st.tuples(names, st.integers(1, 99_999), st.integers(0, MAX_UNIT_PRICE)), min_size=1, max_size=6)


def sale(items: list[tuple[str, int, int]], tender: str = "cash") -> tuple[dict, dict]:
    result = {"receipt": "S001-T1-000042", "at": "2026-11-30T10:00:00+00:00", "tender": tender,
              "lines": [{"sku": f"SKU{i}", "qty": q, "unit_price": p} for i, (_, q, p) in enumerate(items)],
              "total": sum(q * p for _, q, p in items)}
    return result, {f"SKU{i}": n for i, (n, _, _) in enumerate(items)}


@settings(max_examples=200, deadline=None)
@given(lines, st.integers(MIN_RECEIPT_WIDTH, 80), names, st.integers(0, 10**7))
def test_no_line_is_wider_than_the_receipt_and_every_amount_is_whole(items, width, store, extra) -> None:  # noqa: ANN001
    result, by_sku = sale(items)
    text = receipt_text(result, by_sku, store, clerk="a clerk with a very long name indeed", width=width,
                        tendered=result["total"] + extra)
    for line in text.splitlines():
        assert len(line) <= width, f"{len(line)} > {width}: {line!r}"
    for _, q, p in items:
        assert money(q * p) in text, "an amount is never cut"
    assert money(result["total"]) in text


def test_a_typical_receipt_at_40_columns() -> None:
    result, by_sku = sale([("Organic Oat Milk Barista Edition 1L Carton (case of 12)", 3, 1299), ("Bread", 1, 250)])
    text = receipt_text(result, by_sku, "S001 Store 1 — Riverside", clerk="ann", tendered=5000)
    rows = text.splitlines()
    assert max(map(len, rows)) <= 40
    assert "Organic Oat Milk Barista Edition~  38.97" in rows
    assert "  3 x 12.99" in rows
    assert any(r.startswith("Change") and r.endswith("8.53") for r in rows)
