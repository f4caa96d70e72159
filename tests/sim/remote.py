"""The store's hub client in the simulation: `sync.client.HubClient`'s methods, over the simulated network.

The production runner (`node.runner.push`, `pull`, `sync_once`, recovery)
calls this object exactly as it calls the HTTP client, and the request
reaches the production hub service (`hub.service.Hub`) with its real SQL. It
answers as the HTTP client does: the hub's value, `Refused` for a refusal
(with the hub's code and expected sequence), `Offline` for a lost leg, a
partition, or a server error (a hub too busy, a commit whose outcome the
caller never learnt). Only the HTTP edge itself is left out: the API tests
run it against uvicorn.

A crash of the node process at a send boundary is `Crash`, a BaseException so
that no handler in the node catches it: the world throws the process away and
starts it again from its file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub import rules as hub_rules
from sync.client import Offline, Refused
from sync.models import Refusal

if TYPE_CHECKING:
    from tests.sim.world import World


class Crash(BaseException):
    """The node process died here; nothing after this point ran."""


def call_hub(hub: Any, store: str, kind: str, body: Any) -> Any:
    """What the hub's store routes do with a request (see hub/api/stores.py)."""
    if kind == "push":
        return hub.ingest(store, body)
    if kind == "pull":
        return hub.pull(store, body)
    if kind == "opening":
        return hub.opening(store)
    if kind == "ledger_tail":
        return hub.ledger_tail(store, body, 500)
    raise AssertionError(kind)


class SimHubClient:
    def __init__(self, world: World, store: str) -> None:
        self.w = world
        self.store = store

    def close(self) -> None:
        pass

    def push(self, batch: Any) -> Any:
        return self._call("push", batch)

    def pull(self, store_id: str, cursor: int) -> Any:
        return self._call("pull", cursor)

    def opening(self, store_id: str) -> Any:
        return self._call("opening", None)

    def ledger_tail(self, store_id: str, after: int) -> Any:
        return self._call("ledger_tail", after)

    def _call(self, kind: str, body: Any) -> Any:
        w, rng, now = self.w, self.w.rng, self.w.now
        w.maybe_crash(self.store, f"before {kind}")
        if not w.net.request(rng, now, self.store, kind, body):
            raise Offline(f"{kind}: request lost")
        hub = w.pick_hub()
        try:
            answer = call_hub(hub, self.store, kind, body)
        except hub_rules.HubError as err:
            if err.code == "busy":
                raise Offline(f"{kind}: the hub answered 503") from None
            refusal = Refusal(code=err.code, message=err.message, expected_seq=err.extra.get("expected_seq"))
            answer = Refused(409, refusal)
        except w.ambiguous:
            w.stats["ambiguous_commits"] += 1
            raise Offline(f"{kind}: the hub answered 500 after committing") from None
        w.maybe_crash(self.store, f"after {kind}")
        if not w.net.response(rng, now, self.store):
            raise Offline(f"{kind}: answer lost")
        if isinstance(answer, Refused):
            raise answer
        return answer
