"""How the node's figures are shown to people: money, local times, ages, receipts.

Storage is integer minor units and UTC; screens and printouts are local.
The CLI and the terminal UI both show things through here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime


def money(minor: int) -> str:
    """Minor units as an amount: 1299 -> "12.99", -50 -> "-0.50"."""
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(int(minor)), 100)
    return f"{sign}{whole}.{cents:02d}"


def local_time(stamp: str | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A stored UTC timestamp shown in this machine's local time."""
    if not stamp:
        return ""
    return datetime.fromisoformat(stamp).astimezone().strftime(fmt)


def age(stamp: str | None, now: datetime | None = None) -> str:
    """How old a figure is, in a clerk's words: "just now", "4 min ago", "2 h ago", "never"."""
    if not stamp:
        return "never"
    secs = ((now or datetime.now(UTC)) - datetime.fromisoformat(stamp)).total_seconds()
    if secs < 60:
        return "just now"
    if secs < 3600:
        return f"{int(secs // 60)} min ago"
    if secs < 48 * 3600:
        return f"{int(secs // 3600)} h ago"
    return f"{int(secs // 86400)} days ago"


def countdown(stamp: str, now: datetime | None = None) -> str:
    """Time left until a UTC moment: "1:05:09", or "expired"."""
    secs = int((datetime.fromisoformat(stamp) - (now or datetime.now(UTC))).total_seconds())
    if secs <= 0:
        return "expired"
    h, rest = divmod(secs, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}"


def receipt_text(result: Mapping, names: Mapping[str, str], store_name: str, *, clerk: str = "",
                 tendered: int | None = None, width: int = 40) -> str:
    """A plain-text receipt for a sale result from Node.sell."""
    lines = [store_name.center(width), f"Receipt {result['receipt']}".center(width),
             local_time(result.get("at")).center(width), "-" * width]
    for ln in result["lines"]:
        name = names.get(ln["sku"], ln["sku"])[: width - 14]
        amount = money(ln["qty"] * ln["unit_price"])
        lines.append(f"{ln['qty']:>3} x {name:<{width - 16}} {amount:>10}")
        if ln["qty"] > 1:
            lines.append(f"      @ {money(ln['unit_price'])}")
    lines += ["-" * width, f"{'TOTAL':<{width - 12}}{money(result['total']):>12}",
              f"{'Paid by ' + result['tender']:<{width - 12}}{money(tendered if tendered is not None else result['total']):>12}"]
    if tendered is not None and tendered > result["total"]:
        lines.append(f"{'Change':<{width - 12}}{money(tendered - result['total']):>12}")
    lines += ["Prices include tax.".center(width)]
    if clerk:
        lines.append(f"Served by {clerk}".center(width))
    return "\n".join(lines) + "\n"
