"""Strict credentials (`--credentials FILE`): only listed clients, keys and accounts get in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from billing_sandbox.apis import VENDOR_APIS
from billing_sandbox.app import create_app
from billing_sandbox.cli import main, parse_args
from billing_sandbox.cli.serve import settings_of
from billing_sandbox.clock import ManualClock
from billing_sandbox.credentials import CredentialsError, load
from billing_sandbox.settings import Settings
from tests.candid.helpers import WRITE_OFFS, assert_candid_error, patient_item
from tests.decoda.helpers import assert_detail
from tests.mycure.helpers import assert_feathers

pytestmark = pytest.mark.anyio

CREDENTIALS = """
candid:
  - {client_id: acme-ci, client_secret: ci-secret, tenant: acme}
  - {client_id: acme-dev, client_secret: dev-secret, tenant: acme}
  - {client_id: globex, client_secret: globex-secret}
decoda:
  - {tenant_header: acme, api_key: key-1, tenant: acme-prod}
  - {tenant_header: acme, api_key: key-2, tenant: acme-prod}
  - {tenant_header: globex, api_key: key-3}
mycure:
  - {email: ana@clinic-a.test, password: ana-pw, tenant: clinic-a}
  - {email: Ben@Clinic-A.test, password: ben-pw, tenant: clinic-a}
  - {email: cy@clinic-b.test, password: cy-pw}
"""
TOKEN = "/api/auth/v2/token"

# Both servers of a test sign tokens with it, as one server restarted with its state would.
SHARED_SECRET = "shared-signing-secret-of-these-tests"
SECTIONS = {api.name: api.credentials for api in VENDOR_APIS if api.credentials is not None}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    path = tmp_path / "credentials.yaml"
    path.write_text(CREDENTIALS)
    return Settings(credentials_file=path, secret=SHARED_SECRET)


@pytest.fixture
async def open_client(clock: ManualClock) -> AsyncIterator[httpx.AsyncClient]:
    """A sandbox in the default mode, with the same signing secret and clock."""
    transport = httpx.ASGITransport(app=create_app(Settings(secret=SHARED_SECRET), clock=clock))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
        yield c


# Candid ------------------------------------------------------------------------------------


async def candid_token(client: httpx.AsyncClient, client_id: str, secret: str) -> httpx.Response:
    return await client.post(TOKEN, json={"client_id": client_id, "client_secret": secret})


async def candid_bearer(client: httpx.AsyncClient, client_id: str, secret: str) -> dict[str, str]:
    response = await candid_token(client, client_id, secret)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_candid_listed_clients_share_the_tenant_they_map_to(
    client: httpx.AsyncClient,
) -> None:
    ci = await candid_bearer(client, "acme-ci", "ci-secret")
    dev = await candid_bearer(client, "acme-dev", "dev-secret")
    globex = await candid_bearer(client, "globex", "globex-secret")
    created = await client.post(WRITE_OFFS, json={"write_offs": [patient_item()]}, headers=ci)
    assert created.status_code == 200, created.text
    write_off = f"{WRITE_OFFS}/{created.json()['write_offs'][0]['write_off_id']}"
    assert (await client.get(write_off, headers=dev)).status_code == 200  # both name `acme`
    assert (await client.get(write_off, headers=globex)).status_code == 404  # its own tenant


@pytest.mark.parametrize(
    ("client_id", "secret"), [("acme-ci", "wrong"), ("stranger", "ci-secret"), ("acme", "x")]
)
async def test_candid_unlisted_client_or_wrong_secret_gets_401(
    client: httpx.AsyncClient, client_id: str, secret: str
) -> None:
    response = await candid_token(client, client_id, secret)
    content = assert_candid_error(response, 401, "UnauthorizedError")
    assert "not listed" in content["message"]


async def test_candid_token_from_the_open_mode_is_refused(
    client: httpx.AsyncClient, open_client: httpx.AsyncClient
) -> None:
    # Tokens outlive restarts; one minted before strict mode must not slip in.
    headers = await candid_bearer(open_client, "acme-ci", "anything")
    response = await client.get(WRITE_OFFS, headers=headers)
    content = assert_candid_error(response, 401, "UnauthorizedError")
    assert "not listed" in content["message"]


# Decoda ------------------------------------------------------------------------------------


async def test_decoda_listed_keys_name_the_tenant_they_map_to(client: httpx.AsyncClient) -> None:
    def keys(tenant: str, key: str) -> dict[str, str]:
        return {"TENANT": tenant, "API-KEY": key}

    created = await client.post(
        "/user/patient/create", json={"firstName": "Ada"}, headers=keys("acme", "key-1")
    )
    assert created.status_code == 200, created.text
    patient = f"/user/patient/{created.json()['id']}"
    assert (await client.get(patient, headers=keys("acme", "key-2"))).status_code == 200
    assert (await client.get(patient, headers=keys("globex", "key-3"))).status_code == 404


@pytest.mark.parametrize(
    ("tenant", "key"), [("acme", "wrong"), ("acme", "key-3"), ("initech", "key-1")]
)
async def test_decoda_unlisted_pair_gets_401(
    client: httpx.AsyncClient, tenant: str, key: str
) -> None:
    response = await client.get("/billing/charge/list", headers={"TENANT": tenant, "API-KEY": key})
    assert_detail(response, 401, "TENANT and API-KEY pair is not listed")


# MYCURE ------------------------------------------------------------------------------------


async def mycure_sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    body = {"strategy": "local", "email": email, "password": password}
    return await client.post("/authentication", json=body)


async def test_mycure_listed_account_signs_in_to_its_mapped_organisation(
    client: httpx.AsyncClient, open_client: httpx.AsyncClient
) -> None:
    response = await mycure_sign_in(client, "ana@clinic-a.test", "ana-pw")
    assert response.status_code == 201, response.text
    signed_in = response.json()
    # The same uid as without strict mode: a browser's cached account stays the same account.
    elsewhere = await mycure_sign_in(open_client, "ana@clinic-a.test", "any")
    assert signed_in["uid"] == elsewhere.json()["uid"]
    reference = await client.get("/_sandbox/tenants/clinic-a/reference/mycure")
    assert signed_in["uid"] in {account["uid"] for account in reference.json()["accounts"]}
    headers = {"Authorization": f"Bearer {signed_in['accessToken']}"}
    account = await client.get(f"/accounts/{signed_in['uid']}", headers=headers)
    assert account.status_code == 200, account.text


async def test_mycure_emails_match_in_any_case(client: httpx.AsyncClient) -> None:
    response = await mycure_sign_in(client, "ben@clinic-a.test", "ben-pw")
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("ana@clinic-a.test", "wrong"),
        ("eve@clinic-a.test", "ana-pw"),
        ("cy@clinic-b.test", "ana-pw"),
    ],
)
async def test_mycure_unknown_email_or_wrong_password_is_not_authenticated(
    client: httpx.AsyncClient, email: str, password: str
) -> None:
    response = await mycure_sign_in(client, email, password)
    assert_feathers(response, 401, "NotAuthenticated", "Invalid login")
    assert response.json()["className"] == "not-authenticated"


async def test_mycure_refresh_and_jwt_strategy_work_for_a_listed_account(
    client: httpx.AsyncClient,
) -> None:
    signed_in = (await mycure_sign_in(client, "cy@clinic-b.test", "cy-pw")).json()
    refreshed = await client.post(
        "/authentication",
        json={"action": "refreshAccessToken", "refreshToken": signed_in["refreshToken"]},
    )
    assert refreshed.status_code == 201, refreshed.text
    again = await client.post(
        "/authentication", json={"strategy": "jwt", "accessToken": signed_in["accessToken"]}
    )
    assert again.status_code == 201, again.text
    assert again.json()["uid"] == signed_in["uid"]


async def test_mycure_token_from_the_open_mode_is_refused(
    client: httpx.AsyncClient, open_client: httpx.AsyncClient
) -> None:
    # Same email, but the open mode put it in organisation clinic-a.test, not clinic-a.
    token = (await mycure_sign_in(open_client, "ana@clinic-a.test", "any")).json()
    response = await client.get(
        "/billing-soas", headers={"Authorization": f"Bearer {token['accessToken']}"}
    )
    assert_feathers(response, 401, "NotAuthenticated", "not listed")


# The default mode --------------------------------------------------------------------------


async def test_without_a_credentials_file_any_credentials_work(
    open_client: httpx.AsyncClient,
) -> None:
    token = await candid_token(open_client, "anyone", "anything")
    assert token.status_code == 200
    decoda = await open_client.get(
        "/billing/charge/list", headers={"TENANT": "anyone", "API-KEY": "anything"}
    )
    assert decoda.status_code == 200
    mycure = await mycure_sign_in(open_client, "anyone@anywhere.test", "anything")
    assert mycure.status_code == 201


# The file ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "expected a mapping"),
        ("- candid", "expected a mapping"),
        ("candid: []\ndecoda:\nmycure: []", "lists no credentials"),
        ("candid: [{client_id: a, client_secret: b}]\nstripe: []", "unknown section stripe;"),
        ("candid: {client_id: a}", "candid must be a list"),
        ("candid: [a]", "candid[0]: expected a mapping"),
        ("candid: [{client_id: a}]", "candid[0]: missing client_secret"),
        ("candid: [{client_id: a, client_secret: b, org: c}]", "unknown field org;"),
        ("decoda: [{tenant_header: a, api_key: 1234}]", "api_key must be a string (quote it"),
        ("decoda: [{tenant_header: a, api_key: ' '}]", "decoda[0]: api_key is empty"),
        ("mycure: [{email: ana, password: p}]", "is not an email address"),
        (
            "candid: [{client_id: a, client_secret: b}, {client_id: a, client_secret: c}]",
            "candid[1]: client_id 'a' is listed twice",
        ),
        (
            "mycure: [{email: a@b.test, password: p}, {email: A@B.test, password: q}]",
            "mycure[1]: email 'A@B.test' is listed twice",
        ),
        (
            "decoda: [{tenant_header: a, api_key: k}, {tenant_header: a, api_key: k}]",
            "tenant_header 'a' with this api_key is listed twice",
        ),
        ("candid: [{client_id: a, client_secret: b", "is not valid YAML"),
    ],
)
def test_a_bad_file_is_refused_naming_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "credentials.yaml"
    path.write_text(text)
    with pytest.raises(CredentialsError) as error:
        load(path, SECTIONS)
    assert problem in str(error.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="cannot read credentials file"):
        load(tmp_path / "nope.yaml", SECTIONS)


def test_serve_with_a_bad_file_exits_with_a_message_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "credentials.yaml"
    path.write_text("candid: [{client_id: a}]")
    assert main(["serve", "--credentials", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("billing-sandbox: ")
    assert "candid[0]: missing client_secret" in err
    assert "Traceback" not in err


def test_cli_credentials_flag_sets_the_file(tmp_path: Path) -> None:
    settings = settings_of(parse_args(["serve", "--credentials", str(tmp_path / "c.yaml")]))
    assert settings.credentials_file == tmp_path / "c.yaml"
    assert settings_of(parse_args(["serve"])).credentials_file is None


def test_credentials_file_comes_from_the_environment(tmp_path: Path) -> None:
    env = {"BILLING_SANDBOX_CREDENTIALS_FILE": str(tmp_path / "c.yaml")}
    assert Settings.from_env(env).credentials_file == tmp_path / "c.yaml"


def test_the_app_loads_the_file_once_at_start(app: Starlette) -> None:
    credentials = app.state.sandbox.credentials
    login = credentials.find("candid", "acme-ci", "ci-secret")
    assert login is not None
    assert login.tenant == "acme"
