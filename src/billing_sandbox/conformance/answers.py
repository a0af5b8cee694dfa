"""Each API's business-rule answers: statuses a schema-valid request may get for the state it names.

A request can match its schema and still be refused for what it asks of the records it names
(reverting a write-off twice, a webhook to a public host). The specs document these answers;
schemathesis, by default, expects only 2xx, 401, 403, 404 and 409 of a schema-valid request.
These are the statuses `billing-sandbox conformance` accepts beyond those, by operationId:
its shipped defaults, and those of the repository's own fuzzing (tests/conformance/).
`--expected-statuses ID=STATUS,...` replaces one operation's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# schemathesis' defaults for a schema-valid request, which every operation's answers extend.
ACCEPTED = ("2xx", "401", "403", "404", "409")


@dataclass(frozen=True)
class Answer:
    """Statuses some operations answer by a business rule, and the rule, in a line or two."""

    operation_ids: tuple[str, ...]
    statuses: tuple[str, ...]
    why: str


ANSWERS: dict[str, tuple[Answer, ...]] = {
    "candid": (
        Answer(
            ("getWriteOffs",),
            ("422",),
            "Page tokens are opaque and signed: one the server did not issue is 422.",
        ),
        Answer(
            ("revertWriteOff", "revertEraOriginatedInsuranceBalanceAdjustment"),
            ("422",),
            "Reverting twice, reverting a reversal, or reverting on the wrong path is 422; an "
            "ERA-originated adjustment can be reverted once.",
        ),
    ),
    "decoda": (
        Answer(
            ("getChargeTimeline",),
            ("400",),
            "Both query parameters are optional but one is needed (a spec cannot say "
            '"one of two"): a request with neither is 400.',
        ),
        Answer(
            ("createChargeV1", "createCharge"),
            ("422",),
            "A requested status that disagrees with the charge's numbers, a totalOutstanding "
            "above its total, a charge id that exists, or (legacy route) a line naming no "
            "catalogue item is 422.",
        ),
        Answer(
            ("adjustChargeV1", "createAdjustment"),
            ("422",),
            "An adjustment that would take what is owed below zero is 422.",
        ),
        Answer(
            ("createCashSettledPayment",),
            ("422",),
            "Paying more than the charges owe without `credit_overpayment_amount` covering "
            "the excess, paying a charge that owes nothing, or naming a card medium (POS, ...) "
            "or PATIENT_CREDIT on this external-medium route is 422.",
        ),
        Answer(
            ("createWriteOff",),
            ("422",),
            "Writing off a charge that owes nothing, or one on a payment plan, is 422.",
        ),
        Answer(
            ("refundPayment",),
            ("422",),
            "Refunding more than is left of the payment (its amount less earlier refunds) is 422.",
        ),
        Answer(
            ("createPaymentPlanWithCharges",),
            ("422",),
            "Only $0-down plans (initialAmount 0), whose installments cover what is owed with "
            "a last one above 0, over exactly the charges posted, each owing something and not "
            "on a plan already; anything else is 422.",
        ),
        Answer(
            ("cancelPaymentPlan",),
            ("422",),
            "Cancelling the plan of a charge that has none (or whose plan is cancelled) is 422.",
        ),
        Answer(("archiveCharge",), ("422",), "Archiving a void charge is 422."),
        Answer(
            ("createWebhook", "createWebhookV1", "updateWebhook", "updateWebhookV1"),
            ("422",),
            "Webhooks go only to loopback or private addresses: a URL with a public host, or "
            "no host at all, is 422.",
        ),
    ),
    "mycure": (
        Answer(
            ("createBillingSoa",),
            ("400",),
            "A customer of another kind than `type` names is 400.",
        ),
        Answer(
            ("patchBillingSoa",),
            ("400",),
            "A finalized statement takes no change, and a field both set and in `$unset` is "
            "refused (as MongoDB refuses such an update): both are 400.",
        ),
        Answer(
            ("removeBillingSoa",),
            ("400",),
            'Only finalized statements can be deleted ("Can only delete finalized items"): '
            "a draft is 400.",
        ),
    ),
}


def expected_statuses(
    api: str, overrides: Mapping[str, tuple[str, ...]] | None = None
) -> dict[str, tuple[str, ...]]:
    """The statuses each operation of `api` may answer beyond the defaults: the shipped
    answers, with `overrides` replacing those of the operations they name."""
    statuses = {
        operation_id: answer.statuses
        for answer in ANSWERS[api]
        for operation_id in answer.operation_ids
    }
    statuses.update(overrides or {})
    return {operation_id: found for operation_id, found in statuses.items() if found}


def answers_toml(
    statuses: Mapping[str, tuple[str, ...]], operation_ids: Iterable[str] | None = None
) -> list[str]:
    """schemathesis configuration (TOML lines) for the answers: the defaults for every
    operation, and an `[[operations]]` block for each operation with `statuses` of its own
    (only those of `operation_ids` when given)."""
    wanted = None if operation_ids is None else set(operation_ids)
    lines = [
        "[checks.positive_data_acceptance]",
        f"expected-statuses = {json.dumps(list(ACCEPTED))}",
        "",
    ]
    for operation_id, extra in statuses.items():
        if wanted is None or operation_id in wanted:
            allowed = [*ACCEPTED, *(status for status in extra if status not in ACCEPTED)]
            lines += [
                "[[operations]]",
                f"include-operation-id = {json.dumps(operation_id)}",
                f"checks.positive_data_acceptance.expected-statuses = {json.dumps(allowed)}",
                "",
            ]
    return lines
