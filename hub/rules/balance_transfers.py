"""The balancer's transfer proposals: stock moved physically to a store that its own hub share cannot cover.

`hub.rules.balance.plan` calls `propose_transfers` for a SKU once its grants
and releases are planned, with the stores still short after them.
"""

from __future__ import annotations

from math import ceil

from hub.rules.balance_terms import BalanceSettings, Move, span


def propose_transfers(sku: str, rows: list[tuple], short: list[tuple], granted: dict[str, int], central: float,
                      ratio: float, st: BalanceSettings, moves: list[Move]) -> None:
    """Propose moving stock from where it sits to the stores short even with all of their own hub share.

    Stock sits at a warehouse, and at a store with more than `release_above` times its
    demand; a store keeps what a release would leave it. `central` units of the hub's
    shares stay where they are (the web's, and what this plan granted to pins): only what
    is `spare` past them may move.
    """
    min_move, keep_up, release_above = st.min_move, 1.0 + st.hysteresis, st.release_above
    sources = []
    spare = -central - sum(granted.values())
    for (loc, _, kind, _, quota, _, in_flight, hub_share, _, buffer, demand, pinned, off, asked, incoming) in rows:
        if hub_share > buffer:
            spare += hub_share - buffer
        if off or pinned is not None:
            continue
        offer = hub_share - buffer - granted.get(loc, 0)
        if kind == "store":
            target = 0 if demand <= 0 else int(ratio * demand + 0.5) if ratio < 1.0 else \
                max(ceil(demand - 1e-9), st.least_target)
            units = quota + in_flight + incoming + hub_share - buffer
            if units <= release_above * target:
                continue
            offer = min(offer, units - ceil(target * keep_up))
        if offer >= min_move:
            sources.append([kind == "store", -offer, loc])  # a warehouse first: its stock only waits to be sent
    sources.sort()
    spare = int(spare)
    window = span(st.window)
    short.sort()
    for _, dest, lack, want, after in short:
        for src in sources:
            qty = min(lack, -src[1], spare)
            if qty < min_move:
                continue
            src[1] += qty
            spare -= qty
            lack -= qty
            moves.append(Move("transfer", sku, qty, dest, source=src[2], reason=(
                f"{src[2]} has {sku} sitting; {dest} needs {want} over {window}, has {after}")))
            if lack < min_move:
                break
