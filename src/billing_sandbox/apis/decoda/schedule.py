"""Installment schedules for Decoda payment plans."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import date, timedelta

from billing_sandbox.apis.decoda.records import Installment
from billing_sandbox.errors import Unprocessable, counted


def schedule(
    plan_id: str,
    owed: int,
    count: int,
    amount: int,
    frequency: str,
    start: date,
    new_id: Callable[[], str],
) -> list[Installment]:
    """`count` installments of `amount`, the last one trimmed so they add up to `owed`."""
    if count * amount < owed:
        raise Unprocessable(
            f"{counted(count, 'installment')} of {amount} {_cover(count)} {count * amount}, "
            f"less than the {owed} owed"
        )
    last = owed - (count - 1) * amount
    if last <= 0:
        raise Unprocessable(
            f"{counted(count - 1, 'installment')} of {amount} already {_cover(count - 1)} the "
            f"{owed} owed; "
            "use fewer installments"
        )
    amounts = [amount] * (count - 1) + [last]
    return [
        Installment(new_id(), plan_id, value, due_date(start, frequency, index))
        for index, value in enumerate(amounts)
    ]


def due_date(start: date, frequency: str, index: int) -> date:
    """The date of installment `index` (0 is the start date)."""
    if frequency == "WEEKLY":
        return start + timedelta(weeks=index)
    if frequency == "BIWEEKLY":
        return start + timedelta(weeks=2 * index)
    months = start.month - 1 + index
    year, month = start.year + months // 12, months % 12 + 1
    # The 31st of a short month falls on its last day.
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def _cover(count: int) -> str:
    """The verb that goes with `count` installments."""
    return "covers" if count == 1 else "cover"
