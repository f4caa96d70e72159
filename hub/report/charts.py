"""The report's charts: matplotlib (Agg) drawn as SVG text to inline in the page. No fonts are embedded or
fetched: text stays text (svg.fonttype none), in the reader's own sans-serif."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
from matplotlib import pyplot as plt  # noqa: E402 - after choosing the backend
from matplotlib.figure import Figure  # noqa: E402

from hub.report.model import Report  # noqa: E402

LOSS, GAIN, INK, MUTED = "#c0392b", "#2e7d32", "#1f3a5f", "#7f8c8d"
RC = {"svg.fonttype": "none", "svg.hashsalt": "backroom-report", "font.family": "sans-serif", "font.size": 9,
      "axes.spines.top": False, "axes.spines.right": False}
MOST_STORES = 30  # shrink % by store: the worst this many (the CSV has them all)


def _svg(fig: Figure, name: str) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]  # the XML prolog and doctype do not belong inside HTML
    # Ids must be unique in the page: each chart's get its own prefix.
    text = re.sub(r'id="([^"]+)"', rf'id="{name}-\1"', text)
    text = re.sub(r'url\(#([^)]+)\)', rf'url(#{name}-\1)', text)
    text = re.sub(r'xlink:href="#([^"]+)"', rf'xlink:href="#{name}-\1"', text)
    return text.replace("<svg ", f'<svg class="chart" data-chart="{name}" role="img" aria-label="{name}" ', 1)


def _figure(w: float, h: float) -> tuple[Figure, object]:
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(w, h))
    return fig, ax


def _empty(ax: object, what: str) -> None:
    ax.text(0.5, 0.5, f"No {what} in the day", ha="center", va="center", color=MUTED, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def waterfall(r: Report) -> str:
    with plt.rc_context(RC):
        chain = r.roll_forward[-1]
        steps = [("received", chain.received), ("transfers in", chain.transfers_in),
                 ("transfers out", chain.transfers_out), ("sold", chain.sold), ("returned", chain.returned),
                 ("counts", chain.counts), ("written off", chain.written_off), ("handed over", chain.handed_over),
                 ("other", chain.other)]
        fig, ax = _figure(7.5, 3)
        level = chain.opening
        ax.bar(0, chain.opening, color=INK)
        for i, (_, v) in enumerate(steps, start=1):
            ax.bar(i, v, bottom=level, color=GAIN if v >= 0 else LOSS)
            level += v
        ax.bar(len(steps) + 1, chain.closing, color=INK)
        ax.set_xticks(range(len(steps) + 2), ["opening", *[n for n, _ in steps], "closing"], rotation=30, ha="right")
        ax.set_ylabel("units")
        ax.set_title(f"Chain stock, opening {chain.opening:,} to closing {chain.closing:,}", loc="left")
        return _svg(fig, "waterfall")


def top_variance(r: Report) -> str:
    with plt.rc_context(RC):
        rows = r.variance_top
        fig, ax = _figure(7, max(1.6, 0.25 * len(rows) + 0.8))
        if rows:
            labels = [f"{v.store_id} {v.sku}" for v in rows]
            ax.barh(labels, [v.value / 100 for v in rows], color=[LOSS if v.value < 0 else GAIN for v in rows])
            ax.invert_yaxis()
            ax.axvline(0, color=INK, lw=0.8)
            ax.set_xlabel("variance at retail (negative = loss)")
        else:
            _empty(ax, "counts")
        ax.set_title("Top variance by retail value", loc="left")
        return _svg(fig, "top-variance")


def write_offs(r: Report) -> str:
    with plt.rc_context(RC):
        reasons = ("damaged", "expired", "lost", "count")
        units = [sum(w.units for w in r.write_offs if w.reason == k) for k in reasons]
        fig, ax = _figure(5, 2.4)
        ax.bar(reasons, units, color=[LOSS if u < 0 else GAIN for u in units])
        ax.axhline(0, color=INK, lw=0.8)
        ax.set_ylabel("units (negative = loss)")
        ax.set_title("Write-offs by reason", loc="left")
        return _svg(fig, "write-offs")


def trend(r: Report) -> str:
    with plt.rc_context(RC):
        fig, axes = plt.subplots(3, 1, figsize=(7.5, 4.5), sharex=True)
        days = [p.business_date[5:] for p in r.trend]
        for ax, key, label, color in ((axes[0], "sales_units", "sales, units", INK),
                                      (axes[1], "shrink_units", "shrink, units", LOSS),
                                      (axes[2], "over_quota_units", "over-quota, units", MUTED)):
            ys: Sequence[float] = [getattr(p, key) if getattr(p, key) is not None else float("nan") for p in r.trend]
            ax.plot(days, ys, marker="o", color=color, lw=1.2, ms=3)
            ax.set_ylabel(label, fontsize=8)
        axes[2].tick_params(axis="x", rotation=45)
        axes[0].set_title("14 days (a day with no report kept is a gap)", loc="left")
        return _svg(fig, "trend")


def all_charts(r: Report) -> dict[str, str]:
    return {"shrink": shrink_by_store(r), "waterfall": waterfall(r), "variance": top_variance(r),
            "write_offs": write_offs(r), "trend": trend(r)}


def shrink_by_store(r: Report) -> str:
    with plt.rc_context(RC):
        rows = sorted(((x.store_id, x.shrink_pct) for x in r.shrink if x.shrink_pct is not None),
                      key=lambda t: t[1])[:MOST_STORES]
        fig, ax = _figure(7, max(1.6, 0.25 * len(rows) + 0.8))
        if rows:
            ax.barh([s for s, _ in rows], [v for _, v in rows], color=[LOSS if v < 0 else GAIN for _, v in rows])
            ax.invert_yaxis()
            ax.axvline(0, color=INK, lw=0.8)
            ax.set_xlabel("net shrink at retail, % of sales (negative = loss)")
        else:
            _empty(ax, "sales")
        ax.set_title("Shrink % by store" + (f" (worst {MOST_STORES})" if len(rows) == MOST_STORES else ""), loc="left")
        return _svg(fig, "shrink-by-store")
