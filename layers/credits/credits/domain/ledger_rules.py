"""The ledger's vocabulary (pure): every entry type, and how each moves a grant's balance.

The v2 ledger invariant, for every grant at every moment (API.md "Contract v2 additions"):
`granted + adjustedUp - adjustedDown - applied - consumed + released - expired - voided - rolledOver
= currentBalance`. Reports, the /v1 view and the invariant checks all read the signs from here."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Literal

EntryType = Literal["GRANTED", "ADJUSTED_UP", "ADJUSTED_DOWN", "APPLIED", "CONSUMED", "SETTLED", "RELEASED",
                    "EXPIRED", "VOIDED", "ROLLED_OVER", "EXPIRY_CHANGED", "DELETED"]

# +1 adds to the grant's balance, -1 takes from it. SETTLED, EXPIRY_CHANGED and DELETED move
# nothing (a DELETED grant leaves the store with its balance: reports count it as voided).
BALANCE_SIGN: dict[str, int] = {
    "GRANTED": 1, "ADJUSTED_UP": 1, "RELEASED": 1,
    "ADJUSTED_DOWN": -1, "APPLIED": -1, "CONSUMED": -1, "EXPIRED": -1, "VOIDED": -1, "ROLLED_OVER": -1,
}
MOVING_TYPES = tuple(BALANCE_SIGN)


def signed(entry_type: str, amount: Decimal) -> Decimal:
    """What an entry of this type does to the balance (zero for audit-only types)."""
    return BALANCE_SIGN.get(entry_type, 0) * amount


def ledger_balance(entries: Iterable[object]) -> Decimal:
    """The balance a grant's entries say it holds (entries: anything with `.type` and `.amount`)."""
    return sum((signed(e.type, e.amount) for e in entries), Decimal(0))  # type: ignore[attr-defined]
