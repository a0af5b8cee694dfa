"""Money movement: cash settlement, credit, refunds, adjustments, write-offs, plans, and the
sandbox-only ACH return and void."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.decoda.helpers import (
    PART_PAID,
    PATIENT,
    PAYMENT,
    assert_detail,
    charge,
    creds,
    new_charge,
    settle,
)

pytestmark = pytest.mark.anyio


async def refund(
    client: httpx.AsyncClient, payment_id: str, amount: int, reason: str = "OTHER"
) -> httpx.Response:
    body = {"paymentId": payment_id, "providerId": "prov_1", "amount": amount, "reason": reason}
    return await client.post("/billing/payment/refund", json=body, headers=creds())


async def plan(
    client: httpx.AsyncClient, charge_ids: list[str], **overrides: Any
) -> httpx.Response:
    payment_plan = {"initialAmount": 0, "chargeIds": charge_ids, "frequency": "MONTHLY",
                    "installments": 3, "installmentAmount": 4000, **overrides}  # fmt: skip
    body = {
        "charges": [{"id": c, "patientId": PATIENT, "totalOutstanding": 0} for c in charge_ids],
        "paymentPlan": payment_plan,
        "rainforestPaymentMethodId": "pm_sandbox",
    }
    return await client.post(
        "/billing/payment-plan/create-with-charges", json=body, headers=creds()
    )


async def test_payment_applies_to_charges_in_order(client: httpx.AsyncClient) -> None:
    first, second = await new_charge(client, owed=3000), await new_charge(client, owed=5000)
    response = await settle(client, [first["id"], second["id"]], 4000)
    assert response.status_code == 200, response.text
    payment = response.json()
    assert (payment["amount"], payment["status"], payment["paymentMedium"]) == (
        4000,
        "SUCCEEDED",
        "CASH",
    )
    a, b = await charge(client, first["id"]), await charge(client, second["id"])
    assert (a["totalOutstanding"], a["status"]) == (0, "EXTERNAL_SETTLEMENT")
    assert (b["totalOutstanding"], b["status"]) == (4000, "OUTSTANDING")
    assert [p["amount"] for p in a["payments"]] == [3000]
    assert [p["amount"] for p in b["payments"]] == [1000]
    assert b["payments"][0]["payment"]["id"] == payment["id"]


async def test_overpayment_is_422_and_changes_nothing(client: httpx.AsyncClient) -> None:
    made = await new_charge(client, owed=1000)
    assert_detail(
        await settle(client, [made["id"]], 1500), 422, "credit_overpayment_amount of at least 500"
    )
    assert (await charge(client, made["id"]))["totalOutstanding"] == 1000


async def test_overpayment_can_become_patient_credit(client: httpx.AsyncClient) -> None:
    made = await new_charge(client, owed=1000)
    before = (await client.get(f"/user/patient/{PATIENT}", headers=creds())).json()["creditBalance"]
    response = await settle(client, [made["id"]], 1500, credit_overpayment_amount=500)
    assert response.status_code == 200
    after = (await client.get(f"/user/patient/{PATIENT}", headers=creds())).json()["creditBalance"]
    assert after == before + 500


async def test_card_medium_is_refused_on_the_cash_route(client: httpx.AsyncClient) -> None:
    made = await new_charge(client, owed=1000)
    assert_detail(
        await settle(client, [made["id"]], 1000, medium="POS"), 422, "not an external medium"
    )


async def test_custom_medium_settles_externally(client: httpx.AsyncClient) -> None:
    made = await new_charge(client, owed=1000)
    assert (await settle(client, [made["id"]], 1000, medium="Venmo")).status_code == 200
    assert (await charge(client, made["id"]))["status"] == "EXTERNAL_SETTLEMENT"


async def test_paying_a_settled_charge_is_422(client: httpx.AsyncClient) -> None:
    made = await new_charge(client, owed=1000)
    await settle(client, [made["id"]], 1000)
    assert_detail(await settle(client, [made["id"]], 10), 422, "nothing outstanding")


async def test_charge_ids_are_required_in_posted_charges(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/billing/payment-terminal/charge/create-cash-settled",
        params={"payment_medium": "CASH", "amount": 10},
        json=[{"patientId": PATIENT, "totalOutstanding": 10}],
        headers=creds(),
    )
    detail = assert_detail(response, 422)
    assert detail[0]["loc"] == ["body", 0, "id"]


async def test_partial_refunds_up_to_the_payment(client: httpx.AsyncClient) -> None:
    first = await refund(client, PAYMENT, 1500)
    assert first.status_code == 200
    assert (first.json()["amount"], first.json()["reason"]) == (1500, "OTHER")
    assert (await refund(client, PAYMENT, 2500)).status_code == 200
    assert_detail(await refund(client, PAYMENT, 1), 422, "has 0 left to refund")


async def test_over_refund_is_422_and_changes_nothing(client: httpx.AsyncClient) -> None:
    before = await charge(client, PART_PAID)
    assert_detail(await refund(client, PAYMENT, 4001), 422, "has 4000 left to refund")
    assert await charge(client, PART_PAID) == before


async def test_refund_never_raises_what_is_owed(client: httpx.AsyncClient) -> None:
    before = (await charge(client, PART_PAID))["totalOutstanding"]
    await refund(client, PAYMENT, 1000)
    assert (await charge(client, PART_PAID))["totalOutstanding"] == before


async def test_refunding_every_payment_in_full_makes_refunded(client: httpx.AsyncClient) -> None:
    made = await new_charge(client, owed=2000)
    one = (await settle(client, [made["id"]], 1200)).json()
    two = (await settle(client, [made["id"]], 800)).json()
    await refund(client, one["id"], 1200)
    assert (await charge(client, made["id"]))["status"] == "EXTERNAL_SETTLEMENT"
    await refund(client, two["id"], 800)
    assert (await charge(client, made["id"]))["status"] == "REFUNDED"


async def test_unknown_payment_refund_is_404(client: httpx.AsyncClient) -> None:
    assert_detail(await refund(client, "pay_nope", 1), 404, "pay_nope")


@pytest.mark.parametrize("path", ["/billing/adjustment/create", "/v1/charge/adjust"])
async def test_adjustments_move_total_and_outstanding(client: httpx.AsyncClient, path: str) -> None:
    made = await new_charge(client, owed=1000)
    up = await client.post(
        path, json={"chargeId": made["id"], "amount": 250, "reason": "Late fee"}, headers=creds()
    )
    assert (up.json()["adjustmentType"], up.json()["amount"]) == ("ADJUSTMENT", 250)
    down = {"chargeId": made["id"], "amount": -1250, "reason": "Courtesy"}
    assert (await client.post(path, json=down, headers=creds())).status_code == 200
    after = await charge(client, made["id"])
    assert (after["total"], after["totalOutstanding"], after["status"]) == (0, 0, "PAID")
    assert [a["amount"] for a in after["adjustments"]] == [250, -1250]


async def test_adjustment_below_zero_is_422(client: httpx.AsyncClient) -> None:
    made = await new_charge(client, owed=1000)
    body = {"chargeId": made["id"], "amount": -1001, "reason": "Too much"}
    assert_detail(
        await client.post("/billing/adjustment/create", json=body, headers=creds()), 422, "below 0"
    )
    assert (await charge(client, made["id"]))["adjustments"] == []


async def test_adjustment_needs_a_reason(client: httpx.AsyncClient) -> None:
    made = await new_charge(client, owed=1000)
    body = {"chargeId": made["id"], "amount": 5}
    detail = assert_detail(
        await client.post("/billing/adjustment/create", json=body, headers=creds()), 422
    )
    assert detail[0]["loc"] == ["body", "reason"]


async def test_write_off_clears_what_is_owed(client: httpx.AsyncClient) -> None:
    made = await new_charge(client, owed=1000)
    await settle(client, [made["id"]], 400)
    response = await client.post(
        "/billing/write-off/create",
        json={"chargeId": made["id"], "reason": "Uncollectible"},
        headers=creds(),
    )
    assert (response.json()["adjustmentType"], response.json()["amount"]) == ("WRITE_OFF", 600)
    after = await charge(client, made["id"])
    assert (after["totalOutstanding"], after["status"], after["total"]) == (0, "WRITE_OFF", 1000)
    again = await client.post(
        "/billing/write-off/create", json={"chargeId": made["id"], "reason": "x"}, headers=creds()
    )
    assert_detail(again, 422, "nothing outstanding")


async def test_plan_schedules_installments_and_cancel_restores(client: httpx.AsyncClient) -> None:
    made = await new_charge(client, owed=10_000)
    response = await plan(client, [made["id"]], startDate="2026-01-31")
    assert response.status_code == 200, response.text
    created = response.json()
    assert (created["installments"], created["frequency"], created["chargeIds"]) == (
        3,
        "MONTHLY",
        [made["id"]],
    )
    assert (await charge(client, made["id"]))["status"] == "PAYMENT_PLAN"
    events = (
        await client.get(
            "/billing/charge/timeline", params={"charge_id": made["id"]}, headers=creds()
        )
    ).json()
    scheduled = [e for e in events if e["type"] == "SCHEDULED_PAYMENT"]
    assert [(e["amount"], e["date"][:10], e["status"]) for e in scheduled] == [
        (4000, "2026-01-31", "SCHEDULED"),
        (4000, "2026-02-28", "SCHEDULED"),  # the 31st falls on the month's last day
        (2000, "2026-03-31", "SCHEDULED"),  # the last installment is what is left
    ]
    cancelled = await client.delete(f"/billing/payment-plan/{made['id']}", headers=creds())
    assert cancelled.json() is True
    assert (await charge(client, made["id"]))["status"] == "OUTSTANDING"
    events = (
        await client.get(
            "/billing/charge/timeline", params={"charge_id": made["id"]}, headers=creds()
        )
    ).json()
    assert {e["status"] for e in events if e["type"] == "SCHEDULED_PAYMENT"} == {"CANCELLED"}


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [({"initialAmount": 500}, "initialAmount must be 0"),
     ({"installments": 2}, "less than the 10000 owed"),
     ({"installments": 5}, "use fewer installments"),
     ({"installments": 1}, "1 installment of 4000 covers 4000, less than the 10000 owed"),
     ({"installments": 2, "installmentAmount": 10_000},
      "1 installment of 10000 already covers the 10000 owed"),
     ({"chargeIds": ["chg_other"]}, "exactly the charges")],
)  # fmt: skip
async def test_plan_rules(
    client: httpx.AsyncClient, overrides: dict[str, Any], problem: str
) -> None:
    made = await new_charge(client, owed=10_000)
    assert_detail(await plan(client, [made["id"]], **overrides), 422, problem)
    assert (await charge(client, made["id"]))["status"] == "OUTSTANDING"


async def test_cancelling_without_a_plan_is_422(client: httpx.AsyncClient) -> None:
    made = await new_charge(client, owed=100)
    assert_detail(
        await client.delete(f"/billing/payment-plan/{made['id']}", headers=creds()),
        422,
        "not on a payment plan",
    )


async def test_ach_return_fails_the_payment_and_restores_what_is_owed(
    client: httpx.AsyncClient,
) -> None:
    made = await new_charge(client, owed=1000)
    payment = (await settle(client, [made["id"]], 1000, medium="CHECK")).json()
    response = await client.post(
        f"/_sandbox/tenants/acme/decoda/payments/{payment['id']}/fail",
        json={"reason": "R02: account closed"},
    )
    assert response.json() == {"done": "failed", "id": payment["id"], "status": "FAILED"}
    after = await charge(client, made["id"])
    assert (after["totalOutstanding"], after["status"]) == (1000, "OUTSTANDING")
    assert after["payments"][0]["payment"]["failedReason"] == "R02: account closed"
    events = (
        await client.get(
            "/billing/charge/timeline", params={"charge_id": made["id"]}, headers=creds()
        )
    ).json()
    assert "FAILED_PAYMENT" in [e["type"] for e in events]
    again = await client.post(f"/_sandbox/tenants/acme/decoda/payments/{payment['id']}/fail")
    assert again.status_code == 422


async def test_void_refunds_payments_and_owes_nothing(client: httpx.AsyncClient) -> None:
    made = await new_charge(client, owed=1000)
    payment = (await settle(client, [made["id"]], 300)).json()
    response = await client.post(f"/_sandbox/tenants/acme/decoda/charges/{made['id']}/void")
    assert response.json()["status"] == "VOID"
    after = await charge(client, made["id"])
    assert (after["totalOutstanding"], after["status"]) == (0, "VOID")
    assert [r["amount"] for r in after["payments"][0]["payment"]["refunds"]] == [300]
    events = (
        await client.get(
            "/billing/charge/timeline", params={"payment_id": payment["id"]}, headers=creds()
        )
    ).json()
    assert [e["type"] for e in events][-1] == "VOID"
    assert (
        await client.post(f"/_sandbox/tenants/acme/decoda/charges/{made['id']}/void")
    ).status_code == 422
    response = await client.post(
        "/billing/adjustment/create",
        json={"chargeId": made["id"], "amount": 5, "reason": "x"},
        headers=creds(),
    )
    assert_detail(response, 422, "is void")


async def test_voiding_one_charge_of_a_plan_takes_the_others_off_it(
    client: httpx.AsyncClient,
) -> None:
    first, second = await new_charge(client, owed=6000), await new_charge(client, owed=6000)
    assert (await plan(client, [first["id"], second["id"]])).status_code == 200
    voided = await client.post(f"/_sandbox/tenants/acme/decoda/charges/{first['id']}/void")
    assert voided.status_code == 200
    assert (await charge(client, first["id"]))["status"] == "VOID"
    assert (await charge(client, second["id"]))["status"] == "OUTSTANDING"  # was PAYMENT_PLAN
