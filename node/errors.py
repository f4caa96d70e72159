"""What can go wrong at a store, as one tree of domain errors.

    StoreError                      every refusal; nothing was written
    ├── BadInput                    the request itself is wrong
    │   ├── BadBarcode              unreadable scan or wrong check digit
    │   ├── UnknownSku              no such item in this store's catalog
    │   ├── BadQuantity             zero, negative or not a whole number
    │   │   └── TooLarge            past a bound (units per line, a price, a hold's time)
    │   ├── BadText                 an id, name or note too long (or not text)
    │   ├── ExpiredItem             a perishable scanned past its expiry date
    │   ├── BadReceipt              no such receipt, or more returned than sold
    │   ├── ConfirmFound            more units found than the book explains, unconfirmed
    │   ├── UnknownTransfer         a transfer in this node has not heard of (sync first)
    │   ├── TransferMismatch        a transfer in that differs from the hub's transfer
    │   ├── UnknownGrant            a grant this node has not pulled
    │   ├── GrantMismatch           a grant that differs from the one the hub sent
    │   └── UnknownOrder            a web order the hub has not asked this store to hand over
    ├── QuotaExceeded               past the store's quota under `strict`, or a hold
    │                               / release / transfer larger than what is free
    ├── NotOnHand                   more than the book shows in that bin
    ├── HoldUnavailable             hold unknown, already closed, or expired
    ├── AlreadyApplied              a grant, transfer in or order hand-over that was applied before
    ├── OrderWithdrawn              a web order the hub cancelled or moved since it asked for it
    └── NotInitialised              the node file has no store yet

Every edge (CLI, HTTP, TUI) shows `str(error)`: one plain sentence that names
what is wrong. Each error also carries a short `code` for programs.
"""

from __future__ import annotations


class StoreError(Exception):
    code = "store_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BadInput(StoreError):
    code = "bad_input"


class BadBarcode(BadInput):
    code = "bad_barcode"


class UnknownSku(BadInput):
    code = "unknown_sku"


class BadQuantity(BadInput):
    code = "bad_quantity"


class TooLarge(BadQuantity):
    code = "too_large"


class BadText(BadInput):
    code = "bad_text"


class ConfirmFound(BadInput):
    code = "confirm_found"


class UnknownTransfer(BadInput):
    code = "unknown_transfer"


class TransferMismatch(BadInput):
    code = "transfer_mismatch"


class UnknownGrant(BadInput):
    code = "unknown_grant"


class GrantMismatch(BadInput):
    code = "grant_mismatch"


class UnknownOrder(BadInput):
    code = "unknown_order"


class ExpiredItem(BadInput):
    code = "expired_item"


class BadReceipt(BadInput):
    code = "bad_receipt"


class QuotaExceeded(StoreError):
    code = "quota_exceeded"

    def __init__(self, message: str, *, sku: str | None = None, qty: int = 0) -> None:
        super().__init__(message)
        # A sale line refused for want of quota (strict policy): a walk-in turned away, which the node
        # records apart from the ledger (node.refusals). None for a hold, release or transfer.
        self.sku = sku
        self.qty = qty


class NotOnHand(StoreError):
    code = "not_on_hand"


class HoldUnavailable(StoreError):
    code = "hold_unavailable"


class AlreadyApplied(StoreError):
    code = "already_applied"


class OrderWithdrawn(StoreError):
    code = "order_withdrawn"


class NotInitialised(StoreError):
    code = "not_initialised"
