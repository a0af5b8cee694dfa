"""The official `candidhealth` Python SDK against a live sandbox: every call parses."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import httpx
import pytest
from candid import CandidApiClient, CandidApiClientEnvironment
from candid.resources.payers.resources.v_3 import (
    PayerIdentifier_PayerInfo,
    PayerIdentifier_PayerUuid,
)
from candid.resources.write_offs.resources.v_1 import (
    InsuranceWriteOffReason,
    InsuranceWriteOffTarget_ClaimId,
    InsuranceWriteOffTarget_ServiceLineId,
    PatientWriteOffReason,
    WriteOffCreate_Insurance,
    WriteOffCreate_NonInsurancePayer,
    WriteOffCreate_Patient,
)

from billing_sandbox.testing import SandboxServer, SandboxTenant
from tests.candid.helpers import (
    ADJUSTMENT,
    CLAIM,
    CURATED_WRITE_OFF,
    ERA_ADJUSTMENT,
    NON_INSURANCE_PAYER,
    PAYER,
    SERVICE_LINE,
)

WHEN = dt.datetime(2024, 1, 15, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def candid(
    billing_sandbox: SandboxServer, sandbox_tenant: SandboxTenant
) -> Iterator[CandidApiClient]:
    """A client with the test's own tenant, holding a token the SDK got by client id and secret.

    The SDK's lazy client-credentials mode opens an httpx client it never closes (a
    ResourceWarning under `-W error`), so the token is fetched through the SDK's own auth
    call, on an httpx client this fixture owns and closes.
    """
    url = billing_sandbox.url
    environment = CandidApiClientEnvironment(candid_api=url, pre_encounter=url)
    with httpx.Client(timeout=10) as http:
        bootstrap = CandidApiClient(
            environment=environment, token=lambda: "none-yet", httpx_client=http
        )
        token = bootstrap.auth.default.get_token(
            client_id=sandbox_tenant.candid_client_id,
            client_secret=sandbox_tenant.candid_client_secret,
        )
        assert token.token_type == "Bearer"
        assert token.expires_in == 18_000
        access_token = token.access_token
        yield CandidApiClient(
            environment=environment, token=lambda: access_token, httpx_client=http
        )


def test_get_multi_with_filters_and_sort(candid: CandidApiClient) -> None:
    page = candid.write_offs.v_1.get_multi(
        limit=50, sort="amount_cents", sort_direction="asc", account_types=["PATIENT", "INSURANCE"]
    )
    assert len(page.items) == 50
    assert {item.type for item in page.items} <= {"patient", "insurance"}
    amounts = [item.amount_cents for item in page.items]
    assert amounts == sorted(amounts)
    on_line = candid.write_offs.v_1.get_multi(service_line_id=SERVICE_LINE, claim_id=CLAIM)
    assert CURATED_WRITE_OFF in {str(item.write_off_id) for item in on_line.items}


def test_full_page_walk(candid: CandidApiClient) -> None:
    seen: list[str] = []
    token = None
    while True:
        page = candid.write_offs.v_1.get_multi(limit=40, page_token=token)
        seen.extend(str(item.write_off_id) for item in page.items)
        token = page.next_page_token
        if token is None:
            break
    assert len(seen) == len(set(seen)) == 200


def test_get(candid: CandidApiClient) -> None:
    write_off = candid.write_offs.v_1.get(CURATED_WRITE_OFF)
    assert write_off.type == "patient"
    assert write_off.amount_cents == 1250


def test_create_each_variant(candid: CandidApiClient) -> None:
    response = candid.write_offs.v_1.create(
        write_offs=[
            WriteOffCreate_Patient(
                write_off_timestamp=WHEN,
                write_off_reason=PatientWriteOffReason("SMALL_BALANCE"),
                service_line_id=uuid.UUID(SERVICE_LINE),
                amount_cents=100,
            ),
            WriteOffCreate_Insurance(
                payer_identifier=PayerIdentifier_PayerUuid(value=uuid.UUID(PAYER)),
                write_off_target=InsuranceWriteOffTarget_ServiceLineId(
                    value=uuid.UUID(SERVICE_LINE)
                ),
                write_off_timestamp=WHEN,
                write_off_reason=InsuranceWriteOffReason("CONTRACTUAL_ADJUSTMENT"),
                amount_cents=200,
            ),
            WriteOffCreate_Insurance(
                payer_identifier=PayerIdentifier_PayerInfo(
                    payer_id="SBX01", payer_name="Sandbox Mutual Insurance"
                ),
                write_off_target=InsuranceWriteOffTarget_ClaimId(value=uuid.UUID(CLAIM)),
                write_off_timestamp=WHEN,
                write_off_note="Timely filing",
                write_off_reason=InsuranceWriteOffReason("TIMELY_FILING"),
                amount_cents=300,
            ),
            WriteOffCreate_NonInsurancePayer(
                non_insurance_payer_id=uuid.UUID(NON_INSURANCE_PAYER),
                service_line_id=uuid.UUID(SERVICE_LINE),
                write_off_timestamp=WHEN,
                write_off_reason=InsuranceWriteOffReason("OTHER"),
                amount_cents=400,
            ),
        ]
    )
    made = response.write_offs
    assert [w.type for w in made] == ["patient", "insurance", "insurance", "non_insurance_payer"]
    assert str(made[0].claim_id) == CLAIM
    assert str(made[2].payer.payer_uuid) == PAYER
    assert made[3].non_insurance_payer.clinical_trials


def test_revert(candid: CandidApiClient) -> None:
    reversal = candid.write_offs.v_1.revert(CURATED_WRITE_OFF)
    assert str(reversal.reverts_write_off_id) == CURATED_WRITE_OFF
    assert reversal.amount_cents == -1250


def test_revert_insurance_balance_adjustment(candid: CandidApiClient) -> None:
    offset = candid.write_offs.v_1.revert_insurance_balance_adjustment(ADJUSTMENT)
    assert offset.type == "insurance"
    assert offset.amount_cents == -1500


def test_revert_era_originated_insurance_balance_adjustment(candid: CandidApiClient) -> None:
    reverted = candid.write_offs.v_1.revert_era_originated_insurance_balance_adjustment(
        ERA_ADJUSTMENT
    )
    assert str(reverted) == ERA_ADJUSTMENT
