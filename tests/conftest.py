"""Shared test helpers: a small store on a temp SQLite file, and a clock tests can move.

    def test_something(make_node):
        node = make_node(policy="strict")           # in this test's tmp_path
        node = make_node(tmp_path, policy="in-hand")  # or in a directory of your choice
        node.clock.advance(hours=3)

The small store (store id ``S1``) sells four SKUs, all with valid GTIN-13s:

    SKU-MILK  perishable   floor 6, back 4, quota 6
    SKU-SOAP               floor 3, back 7, quota 5
    SKU-TAPE               floor 2, back 0, quota 0   (all of it the hub's)
    SKU-GLUE               nothing on hand
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from node.barcodes import make_gtin13
from node.rules import Policy
from node.service import Node
from tests.sim.swarm import Background, suite_size

STORE_ID = "S1"
T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)

ITEMS = [
    {"sku": "SKU-MILK", "gtin": make_gtin13("400000000001"), "name": "Whole milk 1 l", "price": 129,
     "perishable": True, "shelf_life_days": 10},
    {"sku": "SKU-SOAP", "gtin": make_gtin13("400000000002"), "name": "Olive soap", "price": 350},
    {"sku": "SKU-TAPE", "gtin": make_gtin13("400000000003"), "name": "Packing tape", "price": 499},
    {"sku": "SKU-GLUE", "gtin": make_gtin13("400000000004"), "name": "Wood glue", "price": 725},
]
SKUS = [it["sku"] for it in ITEMS]

# (sku, bin, on_hand, quota); a SKU's quota is summed over its rows
STOCK = [
    ("SKU-MILK", "floor", 6, 6),
    ("SKU-MILK", "back", 4, 0),
    ("SKU-SOAP", "floor", 3, 5),
    ("SKU-SOAP", "back", 7, 0),
    ("SKU-TAPE", "floor", 2, 0),
]


class ManualClock:
    """A clock that only moves when told to (always timezone-aware UTC)."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def build_node(path: str | Path, *, policy: Policy | str = Policy.IN_HAND, clock: ManualClock | None = None,
               items: list[dict] | None = None, stock: list[tuple[str, str, int, int]] | None = None,
               terminal: str = "T1") -> Node:
    """A fresh node file at `path` holding the small store."""
    node = Node(path, terminal=terminal, clock=clock or ManualClock())
    node.initialise(store_id=STORE_ID, name="Test store", policy=Policy(policy),
                    items=ITEMS if items is None else items, stock=STOCK if stock is None else stock)
    return node


@pytest.fixture
def make_node(tmp_path: Path) -> Iterator:
    """A factory: ``make_node(directory=tmp_path, *, policy=..., clock=..., items=..., stock=...)``."""
    nodes: list[Node] = []
    serial = itertools.count()

    def make(directory: str | Path | None = None, **kwargs: object) -> Node:
        directory = Path(directory or tmp_path)
        directory.mkdir(parents=True, exist_ok=True)
        node = build_node(directory / f"node-{next(serial)}.sqlite", **kwargs)
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        node.close()


# -- the simulation's swarm, started early in the background -------------------------------

SWARM_TEST = "tests/test_simulation.py::test_every_seed_keeps_every_invariant_and_heals"
_SWARM = pytest.StashKey[Background | None]()


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """The swarm's module runs last (kept together, in its own order), so its background workers have
    the whole suite's idle time to run in before the test waits for them."""
    if os.environ.get("SIM_BACKGROUND", "1") == "0":
        return
    module = SWARM_TEST.split("::", 1)[0]
    items.sort(key=lambda item: item.nodeid.split("::", 1)[0] == module)  # stable: every other order kept


def pytest_collection_finish(session: pytest.Session) -> None:
    """The swarm (minutes of CPU) starts on niced workers as soon as it is collected, so it soaks up the
    cycles that the tests before it leave idle; its fixture collects the results. SIM_BACKGROUND=0 runs
    it in its test instead, as before."""
    wanted = any(item.nodeid == SWARM_TEST for item in session.items)
    if (not wanted or session.config.option.collectonly or os.environ.get("SIM_BACKGROUND", "1") == "0"
            or hasattr(session.config, "workerinput")):  # under xdist each worker would start one
        return
    seeds, steps = suite_size()
    session.config.stash[_SWARM] = Background(range(seeds), steps)


def pytest_sessionfinish(session: pytest.Session) -> None:
    background = session.config.stash.get(_SWARM, None)
    if background is not None:  # not reached (deselected at the last moment, -x, Ctrl-C): stop its workers
        background.close()


@pytest.fixture(scope="session")
def background_swarm(request: pytest.FixtureRequest) -> Background | None:
    """The swarm started at collection, handed out once (None if it was not started or is taken)."""
    background = request.config.stash.get(_SWARM, None)
    request.config.stash[_SWARM] = None
    return background
