"""The hub's refusals (nothing was written), and who may act: a token's principal and its check."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class HubError(Exception):
    """A refusal by the hub; nothing was written. `code` is for programs (hub.api.errors gives
    each its HTTP status)."""

    code = "hub_error"

    def __init__(self, message: str, **extra: object) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def __str__(self) -> str:
        return self.message


class Gap(HubError):
    code = "gap"


class Divergence(HubError):
    code = "divergence"


class WrongStore(HubError):
    code = "wrong_store"


class NotEnough(HubError):
    code = "not_enough"


class Unknown(HubError):
    code = "unknown"


class Blocked(HubError):
    code = "blocked"


class Busy(HubError):
    code = "busy"


class KeyReused(HubError):
    code = "key_reused"


class BadRequest(HubError):
    code = "bad_request"


class Conflict(BadRequest):
    """A well-formed request that the state of things refuses (an order cannot be cancelled twice)."""

    code = "conflict"


class Unauthenticated(HubError):
    code = "unauthenticated"


class Forbidden(HubError):
    code = "forbidden"


@dataclass(frozen=True)
class Principal:
    """Who a token belongs to."""

    role: str  # store | ops | web
    store_id: str | None = None


def authorize(who: Principal | None, roles: Sequence[str], store_id: str | None = None) -> Principal:
    """May `who` (None: no such live token) act here? `store_id` names the store acted for, if any:
    a store token acts only for its own store, and ops may act for any."""
    if who is None:
        raise Unauthenticated("That token is unknown or revoked.")
    if who.role not in roles:
        raise Forbidden(f"{_a(who.role).capitalize()} token cannot do this; it needs {_a(' or '.join(roles))} token.")
    if store_id is not None and who.role == "store" and who.store_id != store_id:
        raise WrongStore(f"This token belongs to store {who.store_id}, not {store_id}.")
    return who


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word
