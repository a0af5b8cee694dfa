"""Payment-plan installments falling due as a tenant's clock moves: each is charged to the
plan's card (COMPLETED, with its PAYMENT event) or fails (FAILED) when a fault rule says so."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time

from billing_sandbox.apis.decoda.records import Installment, PaymentPlan
from billing_sandbox.apis.decoda.store import DecodaStore
from billing_sandbox.faults.rules import FaultRules, RequestFacts

# The pseudo-operation a fault rule names to make installments fail (`operationId` in a rule),
# with the method and path template its rules may match on too.
SETTLE_OPERATION = "settleInstallment"
SETTLE_STEP = (SETTLE_OPERATION, "POST", "/installments/{id}")


def settle_due(
    store: DecodaStore, today: date, fails: Callable[[PaymentPlan, Installment], bool]
) -> list[Installment]:
    """Settle every scheduled installment due on or before `today`, oldest plan first."""
    settled = []
    for plan in store.plans.values():
        if plan.cancelled:
            continue
        for installment in plan.installments:
            if installment.status != "SCHEDULED" or installment.payment_date > today:
                continue
            owing = [c for c in plan.charge_ids if store.charges[c].total_outstanding > 0]
            if not owing:
                # Paid off another way (cash, a write-off): there is nothing left to take.
                installment.status = "CANCELLED"
            elif fails(plan, installment):
                installment.status = "FAILED"
            else:
                owed = sum(store.charges[c].total_outstanding for c in owing)
                amount = min(installment.amount, owed)
                due = datetime.combine(installment.payment_date, time(), tzinfo=UTC)
                at = min(due, store.clock.now())
                store.take_card_payment(owing, amount, medium="PAYMENT_PLAN", at=at)
                installment.status = "COMPLETED"
            settled.append(installment)
    return settled


def settle_tenant(store: DecodaStore, tenant_id: str, faults: FaultRules) -> list[Installment]:
    """Settle what the tenant's clock says is due; a fault rule on `settleInstallment` (with
    any effect) makes the installments it fires on FAIL."""

    def fails(plan: PaymentPlan, installment: Installment) -> bool:
        facts = RequestFacts(
            api="decoda",
            operation_id=SETTLE_OPERATION,
            method=SETTLE_STEP[1],
            path=f"/installments/{installment.id}",
            template=SETTLE_STEP[2],
            tenant=tenant_id,
        )
        # An outage window is measured on this tenant's clock, the one that moved.
        return faults.fire(facts, lambda _tenant: store.clock.now()) is not None

    return settle_due(store, store.clock.now().date(), fails)
