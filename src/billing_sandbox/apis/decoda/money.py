"""How a Decoda charge's total is computed from its lines (the formula is in docs/fidelity.md)."""

from __future__ import annotations

from billing_sandbox.apis.decoda.records import Line


def line_total(line: Line) -> int:
    """price * quantity - the line's discount (an amount, else a percentage) + its tax."""
    gross = line.price * line.quantity
    discount = line.discount_amount or round(gross * (line.discount_percentage or 0) / 100)
    return gross - discount + (line.tax_amount or 0)


def charge_total(
    lines: list[Line],
    custom_amount: int,
    discount_amount: int,
    discount_percentage: float,
    total_outstanding: int,
) -> int:
    """lines + customAmount - the charge's discount; with no lines, the outstanding amount."""
    if not lines:
        return total_outstanding
    subtotal = sum(line_total(line) for line in lines) + custom_amount
    discount = discount_amount or round(subtotal * discount_percentage / 100)
    return max(0, subtotal - discount)
