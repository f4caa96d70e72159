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


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "~"


def _pair(left: str, right: str, width: int) -> str:
    """`left` and `right` on one line of `width`: the right side whole, the left cut to fit."""
    room = width - len(right) - 1
    return f"{_fit(left, room):<{room}} {right}" if room > 0 else _fit(right, width)


def receipt_text(result: Mapping, names: Mapping[str, str], store_name: str, *, clerk: str = "",
                 tendered: int | None = None, width: int = 40) -> str:
    """A plain-text receipt for a sale result from Node.sell, no line longer than `width`.

    Each item is its name and amount; several units add a line "  3 x 12.99".
    A name too long for the line is cut (marked "~"); an amount never is.
    """
    head = [store_name, f"Receipt {result['receipt']}", local_time(result.get("at"))]
    lines = [_fit(h, width).center(width).rstrip() for h in head] + ["-" * width]
    for ln in result["lines"]:
        lines.append(_pair(names.get(ln["sku"], ln["sku"]), money(ln["qty"] * ln["unit_price"]), width))
        if ln["qty"] != 1:
            lines.append(_fit(f"  {ln['qty']} x {money(ln['unit_price'])}", width))
    paid = tendered if tendered is not None else result["total"]
    lines += ["-" * width, _pair("TOTAL", money(result["total"]), width),
              _pair(f"Paid by {result['tender']}", money(paid), width)]
    if tendered is not None and tendered > result["total"]:
        lines.append(_pair("Change", money(tendered - result["total"]), width))
    lines.append(_fit("Prices include tax.", width).center(width).rstrip())
    if clerk:
        lines.append(_fit(f"Served by {clerk}", width).center(width).rstrip())
    return "\n".join(lines) + "\n"
