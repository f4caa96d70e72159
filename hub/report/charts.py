"""The report's charts: matplotlib (Agg) drawn as SVG text to inline in the page. No fonts are embedded or
fetched: text stays text (svg.fonttype none), in the reader's own sans-serif.

Made cheaply: a Figure of its own (no pyplot state), margins set from the labels' lengths instead of
`bbox_inches="tight"` (which draws every figure twice to measure it), and a few ticks per axis. Each chart
has a handful of marks whatever the chain's size (the worst MOST_STORES stores, the top variances, 14 days).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
from matplotlib import rc_context  # noqa: E402 - after choosing the backend
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator, StrMethodFormatter  # noqa: E402

from hub.report.model import Report  # noqa: E402

LOSS, GAIN, INK, MUTED = "#c0392b", "#2e7d32", "#1f3a5f", "#7f8c8d"
RC = {"svg.fonttype": "none", "svg.hashsalt": "backroom-report", "font.family": "sans-serif", "font.size": 9,
      "axes.spines.top": False, "axes.spines.right": False}
MOST_STORES = 30  # shrink % by store: the worst this many (the CSV has them all)
CHAR_IN = 0.075  # about the width of one 9-point character, in inches: margins for labels


def _svg(fig: Figure, name: str) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    text = buf.getvalue()
    text = text[text.index("<svg"):]  # the XML prolog and doctype do not belong inside HTML
    # Ids must be unique in the page: each chart's get its own prefix.
    text = re.sub(r'id="([^"]+)"', rf'id="{name}-\1"', text)
    text = re.sub(r'url\(#([^)]+)\)', rf'url(#{name}-\1)', text)
    text = re.sub(r'xlink:href="#([^"]+)"', rf'xlink:href="#{name}-\1"', text)
    return text.replace("<svg ", f'<svg class="chart" data-chart="{name}" role="img" aria-label="{name}" ', 1)


def _figure(w: float, h: float, *, left: float = 0.8, bottom: float = 0.5, rows: int = 1) -> tuple[Figure, object]:
    """A figure w x h inches with room (inches) for labels at the left and bottom, and a title on top."""
    fig = Figure(figsize=(w, h))
    fig.subplots_adjust(left=left / w, right=1 - 0.2 / w, bottom=bottom / h, top=1 - 0.35 / h, hspace=0.25)
    return fig, fig.subplots(rows, 1, sharex=rows > 1)


def _few_ticks(ax: Axes, axis: str = "y", nbins: int = 4, *, units: bool = True) -> None:
    """A few ticks (whole numbers for units), numbered in full with thousands separators (no offset or 1e6
    above the axis)."""
    a = ax.yaxis if axis == "y" else ax.xaxis
    a.set_major_locator(MaxNLocator(nbins=nbins, integer=units))
    a.set_major_formatter(StrMethodFormatter("{x:,.10g}"))


def _empty(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, f"No {what} in the day", ha="center", va="center", color=MUTED, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _hbars(name: str, title: str, xlabel: str, what: str, rows: Sequence[tuple[str, float]]) -> str:
    """Horizontal bars, one a row, the first on top (loss red, gain green)."""
    left = 0.3 + CHAR_IN * max((len(label) for label, _ in rows), default=0)
    fig, ax = _figure(7, max(1.6, 0.25 * len(rows) + 0.8), left=left)
    if rows:
        ax.barh([label for label, _ in rows], [v for _, v in rows], color=[LOSS if v < 0 else GAIN for _, v in rows])
        ax.invert_yaxis()
        ax.axvline(0, color=INK, lw=0.8)
        ax.set_xlabel(xlabel)
        _few_ticks(ax, "x", units=False)
    else:
        _empty(ax, what)
    ax.set_title(title, loc="left")
    return _svg(fig, name)


def shrink_by_store(r: Report) -> str:
    with rc_context(RC):
        rows = sorted(((x.store_id, x.shrink_pct) for x in r.shrink if x.shrink_pct is not None),
                      key=lambda t: t[1])[:MOST_STORES]
        return _hbars("shrink-by-store", "Shrink % by store" + (f" (worst {MOST_STORES})" if len(rows) == MOST_STORES
                                                                 else ""),
                      "net shrink at retail, % of sales (negative = loss)", "sales", rows)


def waterfall(r: Report) -> str:
    with rc_context(RC):
        chain = r.roll_forward[-1]
        steps = [("received", chain.received), ("transfers in", chain.transfers_in),
                 ("transfers out", chain.transfers_out), ("sold", chain.sold), ("returned", chain.returned),
                 ("counts", chain.counts), ("written off", chain.written_off), ("handed over", chain.handed_over),
                 ("other", chain.other)]
        fig, ax = _figure(7.5, 3, left=1.05, bottom=0.95)
        level, bottoms = chain.opening, []
        for _, v in steps:
            bottoms.append(level)
            level += v
        values = [v for _, v in steps]
        ax.bar(range(len(steps) + 2), [chain.opening, *values, chain.closing], bottom=[0, *bottoms, 0],
               color=[INK, *[GAIN if v >= 0 else LOSS for v in values], INK])
        ax.set_xticks(range(len(steps) + 2), ["opening", *[n for n, _ in steps], "closing"], rotation=30, ha="right")
        ax.set_ylabel("units")
        _few_ticks(ax)
        ax.set_title(f"Chain stock, opening {chain.opening:,} to closing {chain.closing:,}", loc="left")
        return _svg(fig, "waterfall")


def top_variance(r: Report) -> str:
    with rc_context(RC):
        return _hbars("top-variance", "Top variance by retail value", "variance at retail (negative = loss)", "counts",
                      [(f"{v.store_id} {v.sku}", v.value / 100) for v in r.variance_top])


def write_offs(r: Report) -> str:
    with rc_context(RC):
        reasons = ("damaged", "expired", "lost", "count")
        units = [sum(w.units for w in r.write_offs if w.reason == k) for k in reasons]
        fig, ax = _figure(5, 2.4, left=0.9, bottom=0.35)
        ax.bar(reasons, units, color=[LOSS if u < 0 else GAIN for u in units])
        ax.axhline(0, color=INK, lw=0.8)
        ax.set_ylabel("units (negative = loss)")
        _few_ticks(ax)
        ax.set_title("Write-offs by reason", loc="left")
        return _svg(fig, "write-offs")


def trend(r: Report) -> str:
    with rc_context(RC):
        fig, axes = _figure(7.5, 4.5, left=0.9, bottom=0.55, rows=3)
        days = [p.business_date[5:] for p in r.trend]
        for ax, key, label, color in ((axes[0], "sales_units", "sales, units", INK),
                                      (axes[1], "shrink_units", "shrink, units", LOSS),
                                      (axes[2], "over_quota_units", "over-quota, units", MUTED)):
            ys: Sequence[float] = [getattr(p, key) if getattr(p, key) is not None else float("nan") for p in r.trend]
            ax.plot(days, ys, marker="o", color=color, lw=1.2, ms=3)
            ax.set_ylabel(label, fontsize=8)
            _few_ticks(ax, nbins=3)
        axes[2].set_xlim(-0.5, len(days) - 0.5)  # every day on the axis, those with no report kept too
        axes[2].tick_params(axis="x", rotation=45)
        axes[0].set_title("14 days (a day with no report kept is a gap)", loc="left")
        return _svg(fig, "trend")


def all_charts(r: Report) -> dict[str, str]:
    return {"shrink": shrink_by_store(r), "waterfall": waterfall(r), "variance": top_variance(r),
            "write_offs": write_offs(r), "trend": trend(r)}
