"""Exact money: amounts travel as decimal strings and are kept as integer minor units (fen)."""

from decimal import Decimal, InvalidOperation

MINOR_PER_MAIN = 100


class AmountError(ValueError):
    """An amount that cannot be money: not a number, negative, or finer than a fen."""


def parse_amount(value: object) -> int:
    """Turn "600.00", 600, or Decimal("600.5") into minor units; floats are refused."""
    if isinstance(value, (bool, float)):
        # A float has already lost the exact value the sender meant.
        raise AmountError("must be a decimal string or an exact number, not a float")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise AmountError(f"{value!r} is not a decimal amount") from None
    else:
        raise AmountError(f"must be a decimal string, got {type(value).__name__}")
    if not amount.is_finite():
        raise AmountError(f"{value} is not a finite amount")
    if amount < 0:
        raise AmountError(f"{value} is negative")
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise AmountError(f"{value} has more than 2 decimals")
    return int(amount * MINOR_PER_MAIN)


def format_amount(minor: int) -> str:
    """Minor units as the main-unit string operators read and scripts parse: 103000000 -> "1030000.00"."""
    sign = "-" if minor < 0 else ""
    whole, fen = divmod(abs(minor), MINOR_PER_MAIN)
    return f"{sign}{whole}.{fen:02d}"
