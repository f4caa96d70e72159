"""What a pass that plans only the spots that changed (hub/service/balance_pass.py) relies on in `plan`.

With no web demand, `plan` decides a store's grant or release from that
store's spot alone, so the pass may plan a changed spot without the SKU's
other spots; and a store that would run short in the whole SKU's plan is
found by planning it beside a stand-in source with unlimited stock. Both
over random chains (tests/test_balance_rules.py's), with every setting.
"""

from __future__ import annotations

from dataclasses import astuple

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.rules.balance import BalanceSettings, plan
from hub.service.balance_pass import STAND_IN, _UNLIMITED
from tests.test_balance_rules import spots_for

SETTINGS = st.builds(BalanceSettings, min_move=st.integers(1, 4), hysteresis=st.sampled_from((0.1, 0.25, 0.5)),
                     release_above=st.sampled_from((1.5, 2.0, 3.0)))


@settings(max_examples=400, deadline=None)
@given(spots=st.integers(1, 6).flatmap(lambda n: spots_for("X", n)), st_=SETTINGS)
def test_a_stores_grant_or_release_is_its_own_spots_and_a_short_store_is_found_with_a_stand_in(spots, st_) -> None:
    rows = [astuple(s) for s in spots]
    whole = plan(rows, st_)
    stand_in = (STAND_IN, "X", "warehouse", 0, 0, 0, 0, _UNLIMITED, 0, 0, 0.0, None, False, 0, 0)
    for row in rows:
        if row[2] != "store":
            continue
        own = [(m.kind, m.qty) for m in plan([row], st_)]
        assert own == [(m.kind, m.qty) for m in whole if m.location == row[0] and m.kind != "transfer"]
        if any(m.kind == "transfer" and m.location == row[0] for m in whole):
            assert any(m.kind == "transfer" and m.location == row[0] for m in plan([row, stand_in], st_))
