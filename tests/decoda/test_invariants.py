"""Invariants that must hold after any sequence of money movements (hypothesis state machine).

Every operation is tried with arbitrary amounts and targets; refusals (404/422) are expected
and must change nothing. After each step the numbers and statuses are checked.
"""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from billing_sandbox.apis.decoda.records import Patient
from billing_sandbox.apis.decoda.store import DecodaStore
from billing_sandbox.clock import ManualClock
from billing_sandbox.errors import ApiError

AMOUNTS = st.integers(min_value=-5_000, max_value=20_000)
MEDIUMS = st.sampled_from(["CASH", "CHECK", "CARE_CREDIT", "Venmo", "POS"])


class MoneyMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = DecodaStore(random.Random(0), ManualClock(datetime(2026, 1, 1, tzinfo=UTC)))
        self.store.add_patient(Patient(id="pat", created_date=self.store.clock.now()))
        self.opening: dict[str, int] = {}

    def attempt(self, action: object, *args: object, **kwargs: object) -> None:
        """Run a store operation; a refusal must leave the store exactly as it was."""
        before = copy.deepcopy(self.snapshot())
        try:
            action(*args, **kwargs)  # type: ignore[operator]
        except ApiError:
            assert self.snapshot() == before, "a refused operation changed the store"

    def snapshot(self) -> tuple[object, ...]:
        s = self.store
        return (repr(s.charges), repr(s.payments), repr(s.refunds), repr(s.adjustments),
                repr(s.plans), repr(s.patients))  # fmt: skip

    def pick(self, index: int) -> str:
        ids = sorted(self.opening)
        return ids[index % len(ids)]

    @rule(owed=st.integers(min_value=0, max_value=50_000))
    def open_charge(self, owed: int) -> None:
        charge = self.store.open_charge("pat", owed, [], None)
        self.opening[charge.id] = owed

    @precondition(lambda self: self.opening)
    @rule(index=st.integers(0, 99), amount=st.integers(1, 60_000), medium=MEDIUMS,
          credit=st.integers(0, 5_000), two=st.booleans())  # fmt: skip
    def pay(self, index: int, amount: int, medium: str, credit: int, two: bool) -> None:
        targets = [self.pick(index)] + ([self.pick(index + 1)] if two else [])
        self.attempt(self.store.settle_externally, targets, amount, medium, credit, None)

    @precondition(lambda self: self.opening)
    @rule(index=st.integers(0, 99), amount=st.integers(1, 60_000))
    def pay_by_card(self, index: int, amount: int) -> None:
        self.attempt(self.store.take_card_payment, [self.pick(index)], amount)

    @precondition(lambda self: self.store.payments)
    @rule(index=st.integers(0, 99), amount=st.integers(1, 30_000))
    def refund(self, index: int, amount: int) -> None:
        payment_id = sorted(self.store.payments)[index % len(self.store.payments)]
        self.attempt(self.store.refund, payment_id, amount, "OTHER")

    @precondition(lambda self: self.store.payments)
    @rule(index=st.integers(0, 99))
    def ach_return(self, index: int) -> None:
        payment_id = sorted(self.store.payments)[index % len(self.store.payments)]
        self.attempt(self.store.fail_payment, payment_id, "R01")

    @precondition(lambda self: self.opening)
    @rule(index=st.integers(0, 99), amount=AMOUNTS)
    def adjust(self, index: int, amount: int) -> None:
        self.attempt(self.store.adjust, self.pick(index), amount, "test")

    @precondition(lambda self: self.opening)
    @rule(index=st.integers(0, 99))
    def write_off(self, index: int) -> None:
        self.attempt(self.store.write_off, self.pick(index), "test")

    @precondition(lambda self: self.opening)
    @rule(index=st.integers(0, 99), count=st.integers(1, 6), each=st.integers(1, 20_000))
    def start_plan(self, index: int, count: int, each: int) -> None:
        charge_id = self.pick(index)
        self.attempt(
            self.store.start_plan, [charge_id], [charge_id], 0, count, each, "WEEKLY", None, "pm"
        )

    @precondition(lambda self: self.opening)
    @rule(index=st.integers(0, 99))
    def cancel_plan(self, index: int) -> None:
        self.attempt(self.store.cancel_plan, self.pick(index))

    @precondition(lambda self: self.opening)
    @rule(index=st.integers(0, 99))
    def void(self, index: int) -> None:
        self.attempt(self.store.void, self.pick(index))

    @invariant()
    def outstanding_never_negative(self) -> None:
        assert all(c.total_outstanding >= 0 for c in self.store.charges.values())

    @invariant()
    def money_reconciles(self) -> None:
        """outstanding = opening + adjustments - live payments - write-offs - voided."""
        s = self.store
        for charge in s.charges.values():
            moves = [s.adjustments[a] for a in charge.adjustment_ids]
            adjusted = sum(a.amount for a in moves if a.adjustment_type == "ADJUSTMENT")
            written_off = sum(a.amount for a in moves if a.adjustment_type == "WRITE_OFF")
            paid = sum(
                s.payments[p].allocations[charge.id]
                for p in charge.payment_ids
                if s.payments[p].status == "SUCCEEDED"
            )
            opening = self.opening[charge.id]
            assert charge.total == opening + adjusted
            expected = opening + adjusted - paid - written_off - charge.voided_amount
            assert charge.total_outstanding == expected

    @invariant()
    def payments_and_refunds_add_up(self) -> None:
        s = self.store
        for payment in s.payments.values():
            assert sum(payment.allocations.values()) <= payment.amount
            assert s.refunded(payment) <= payment.amount

    @invariant()
    def status_agrees_with_the_numbers(self) -> None:
        s = self.store
        for charge in s.charges.values():
            owed = charge.total_outstanding
            active_plan = any(not s.plans[p].cancelled for p in charge.plan_ids)
            assert (charge.status == "VOID") == (charge.voided_at is not None)
            if charge.status in ("OUTSTANDING", "PAYMENT_PLAN"):
                assert owed > 0
                assert (charge.status == "PAYMENT_PLAN") == active_plan
            else:
                assert owed == 0, charge
            if charge.status == "REFUNDED":
                paid = [
                    s.payments[p] for p in charge.payment_ids if s.payments[p].status == "SUCCEEDED"
                ]
                assert paid and all(s.refunded(p) >= p.amount for p in paid)
            if charge.status == "EXTERNAL_SETTLEMENT":
                assert all(s.payments[p].external for p in charge.payment_ids)


TestMoneyInvariants = MoneyMachine.TestCase
TestMoneyInvariants.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
