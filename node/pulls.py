"""What a store's pulls bring, kept (grants as the hub sent them, the pull's catalog, chain picture and
orders, problems the node could not solve alone), and the sales parked on the node file.

Split from `node.service` for length; `Node` offers every method here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING

from node import rules
from node.errors import BadInput
from node.rules import SaleLine
from node.store import immediate
from node.store import ledger as sql
from node.store import pulled
from sync.kinds import stamp

if TYPE_CHECKING:
    from node.service import Node
    from sync.models import Grant, PullResponse


class Pulls:
    """`Node`'s record of what pulls brought."""

    def pulled_grant(self: Node, grant_id: str) -> rules.PulledGrant | None:
        return pulled.pulled_grant(self.conn, grant_id)

    def note_grants(self: Node, grants: Iterable[Grant]) -> list[rules.PulledGrant]:
        """Keep grants as a pull brought them; the ones to apply now (new, or pulled before and not applied).

        A grant id seen before with other content is not a repeat (a hub restored
        from an old copy can reissue an id): it is recorded as a problem for ops,
        not applied and not dropped in silence.
        """
        with immediate(self.conn) as c:
            for g in grants:
                got = rules.PulledGrant(g.grant_id, g.sku, g.qty)
                known = pulled.pulled_grant(c, g.grant_id)
                news = rules.grant_news(known, got)
                if news == "new":
                    pulled.keep_grant(c, got)
                elif news == "conflict":
                    pulled.note_problem(
                        c, "grant_conflict", g.grant_id,
                        f"The hub sent grant {g.grant_id} for {g.qty} of {g.sku}, but this store already "
                        f"has grant {g.grant_id} for {known.qty} of {known.sku}; it was not applied. Ask ops.",
                        stamp(self.clock()))
            return pulled.grants_to_apply(c)

    def record_pull(self: Node, resp: PullResponse) -> None:
        """Keep what a pull brought (catalog, locations, chain picture, web orders to hand over) and its
        cursor, in one transaction."""
        with immediate(self.conn) as c:
            pulled.keep_pull(c, resp, stamp(self.clock()))

    def record_problem(self: Node, kind: str, ref: str | None, message: str) -> None:
        """Something the node could not do by itself, kept for the status line and ops (once per message)."""
        with immediate(self.conn) as c:
            pulled.note_problem(c, kind, ref, message, stamp(self.clock()))


class Parked:
    """`Node`'s parked sales: carts kept in the node file, so that no terminal closing loses one."""

    def park_sale(self: Node, park_id: str, lines: list[SaleLine], *, open_: bool = False) -> None:
        """Park a sale for any terminal to recall, or (`open_`) keep the one on screen safe."""
        with immediate(self.conn) as c:
            if open_ and not lines:
                sql.drop_open(c, park_id)
                return
            sql.park(c, park_id, self.terminal, self.clerk, json.dumps([asdict(ln) for ln in lines]),
                     stamp(self.clock()), open_=open_)

    def drop_open_sale(self: Node, park_id: str) -> None:
        """The open sale was paid or voided: nothing to bring back."""
        with immediate(self.conn) as c:
            sql.drop_open(c, park_id)

    def recall_sale(self: Node, park_id: str) -> list[SaleLine]:
        """Take a parked sale back (any terminal may); it is no longer parked."""
        with immediate(self.conn) as c:
            lines = sql.unpark(c, park_id)
        if lines is None:
            raise BadInput(f"There is no parked sale {park_id}.")
        return [SaleLine(**ln) for ln in json.loads(lines)]
