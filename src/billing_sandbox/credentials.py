"""Strict credentials: the clients, keys and accounts a `--credentials` YAML file lists."""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class CredentialsError(ValueError):
    """The credentials file cannot be read or breaks the format; the server refuses to start."""


@dataclass(frozen=True)
class Section:
    """How one API's entries look: the field naming the caller, the one proving it."""

    name_field: str
    secret_field: str
    # Names compared case-insensitively (emails: `Ana@Clinic-A.test` is `ana@clinic-a.test`).
    fold_case: bool = False
    # Whether a name is one caller, or may come with several secrets (several API keys).
    unique_names: bool = True
    pattern: re.Pattern[str] | None = None
    pattern_hint: str = ""

    def key(self, name: str) -> str:
        return name.strip().lower() if self.fold_case else name


TENANT_FIELD = "tenant"
# How refusals say why, without telling a client where the file is.
LISTED = "listed in the sandbox's credentials file (--credentials)"


@dataclass(frozen=True)
class Login:
    """One listed credential: who it names, what proves it, and the tenant it maps to.

    `tenant` is None when the entry leaves it out: the API's default then applies (the name
    itself, or what the API derives from it), as without strict mode.
    """

    name: str
    secret: str
    tenant: str | None = None


class Credentials:
    """The listed logins of each API, looked up by what a client sends."""

    def __init__(self, logins: Mapping[str, Iterable[Login]], sections: Mapping[str, Section]):
        self._sections = dict(sections)
        self._logins: dict[tuple[str, str], list[Login]] = {}
        for api, entries in logins.items():
            for login in entries:
                self._logins.setdefault((api, sections[api].key(login.name)), []).append(login)

    def tenants_named(self, api: str) -> dict[tuple[str, str], str]:
        """Each listed login of `api` as (name as compared, secret) → the tenant its entry
        maps it to, where it maps one (a cluster routes by these)."""
        return {
            (name, login.secret): login.tenant
            for (listed_api, name), logins in self._logins.items()
            if listed_api == api
            for login in logins
            if login.tenant is not None
        }

    def find(self, api: str, name: str, secret: str | None = None) -> Login | None:
        """The login of `api` named `name` whose secret is `secret`, or None.

        Without `secret`, the name alone is looked up: for a token the sandbox issued after
        checking the secret, which must still name a listed login (and its tenant).
        """
        for login in self._logins.get((api, self._sections[api].key(name)), ()):
            # Compared in constant time, as a real server would; it costs nothing here.
            if secret is None or hmac.compare_digest(login.secret.encode(), secret.encode()):
                return login
        return None


def load(path: Path, sections: Mapping[str, Section]) -> Credentials:
    """Read and check a credentials file (a section per API, by name); every problem is a
    `CredentialsError` naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CredentialsError(f"cannot read credentials file {path}: {error}") from error
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise CredentialsError(f"credentials file {path} is not valid YAML: {error}") from error
    return parse(document, sections, str(path))


def parse(
    document: Any, sections: Mapping[str, Section], source: str = "credentials"
) -> Credentials:
    """Check a loaded credentials document against the format (see README)."""
    if not isinstance(document, dict):
        raise CredentialsError(
            f"{source}: expected a mapping with any of {', '.join(sections)}, "
            f"each a list of entries"
        )
    unknown = sorted(str(key) for key in document if key not in sections)
    if unknown:
        raise CredentialsError(
            f"{source}: unknown {'section' if len(unknown) == 1 else 'sections'} "
            f"{', '.join(unknown)}; "
            f"the sections are {', '.join(sections)}"
        )
    logins = {
        api: _section(api, section, document.get(api), source) for api, section in sections.items()
    }
    if not any(logins.values()):
        raise CredentialsError(f"{source}: lists no credentials, so no client could sign in")
    return Credentials(logins, sections)


def _section(api: str, section: Section, entries: Any, source: str) -> list[Login]:
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise CredentialsError(f"{source}: {api} must be a list of entries")
    logins = [
        _login(section, entry, f"{source}: {api}[{index}]") for index, entry in enumerate(entries)
    ]
    seen: set[tuple[str, str]] = set()
    for index, login in enumerate(logins):
        identity = (section.key(login.name), "" if section.unique_names else login.secret)
        if identity in seen:
            what = f"{section.name_field} {login.name!r}"
            if not section.unique_names:
                what += f" with this {section.secret_field}"
            raise CredentialsError(f"{source}: {api}[{index}]: {what} is listed twice")
        seen.add(identity)
    return logins


def _login(section: Section, entry: Any, where: str) -> Login:
    fields = (section.name_field, section.secret_field, TENANT_FIELD)
    if not isinstance(entry, dict):
        raise CredentialsError(f"{where}: expected a mapping with {', '.join(fields)}")
    unknown = sorted(str(key) for key in entry if key not in fields)
    if unknown:
        raise CredentialsError(
            f"{where}: unknown {'field' if len(unknown) == 1 else 'fields'} {', '.join(unknown)}; "
            f"the fields are {', '.join(fields)}"
        )
    values = {name: _text(entry, name, where) for name in fields if name in entry}
    missing = [name for name in fields[:2] if name not in values]
    if missing:
        raise CredentialsError(f"{where}: missing {' and '.join(missing)}")
    name = values[section.name_field]
    if section.pattern is not None and not section.pattern.fullmatch(name.strip()):
        raise CredentialsError(
            f"{where}: {section.name_field} {name!r} is not {section.pattern_hint}"
        )
    return Login(name, values[section.secret_field], values.get(TENANT_FIELD))


def _text(entry: dict[Any, Any], name: str, where: str) -> str:
    value = entry[name]
    # No coercion: YAML reads `1234` as a number and `0123` as octal 83, so a secret that is
    # not written as a string would silently differ from what the user meant.
    if not isinstance(value, str):
        raise CredentialsError(
            f"{where}: {name} must be a string (quote it: YAML reads {value!r} as "
            f"{type(value).__name__})"
        )
    if not value.strip():
        raise CredentialsError(f"{where}: {name} is empty")
    return value
