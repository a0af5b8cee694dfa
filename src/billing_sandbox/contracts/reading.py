"""Reading a pact, whichever Pact tool wrote it: specification v1 to v4, into the one model
(`model.py`) the verifier and the static check take. Every shape a version allows is read
into the same form (query values as lists of strings, matchers as v3/v4 objects, rules keyed
by category), so nothing downstream asks which version wrote the file. A file that cannot be
read is refused whole, with every problem found and where it is, so one fix-up round is
enough."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

import orjson

from billing_sandbox.contracts.bodies import is_json_media_type
from billing_sandbox.contracts.files import NotAFile, read_regular_file
from billing_sandbox.contracts.interaction import STORY_SECTION, read_interaction
from billing_sandbox.contracts.jsonpath import shown
from billing_sandbox.contracts.model import Interaction, Pact, PactInvalid
from billing_sandbox.contracts.problems import MAX_PROBLEMS, Problems, kind_of, must_be
from billing_sandbox.contracts.rules import MAX_RULE_NESTING, STATUS_CLASSES, matcher_kind

# What other modules take from here, wherever it is now defined.
__all__ = [
    "HTTP_INTERACTION",
    "MAX_PACT_BYTES",
    "MAX_PROBLEMS",
    "MAX_RULE_NESTING",
    "STATUS_CLASSES",
    "STORY_SECTION",
    "is_json_media_type",
    "load_pact",
    "matcher_kind",
    "parse_pact",
]

# A pact is a test artefact: the largest real ones are a few megabytes. The cap keeps a wrong
# file (a log, a dump) from being read whole into memory.
MAX_PACT_BYTES: Final = 20 * 1024 * 1024

HTTP_INTERACTION: Final = "Synchronous/HTTP"
# A version's major number, a few digits at most: a longer run is no version (and Python
# refuses to turn more than 4,300 digits into a number at all).
_VERSION: Final = re.compile(r"v?(\d{1,4})(?!\d)")
# The longest version text read: "4.0", "3.0.0", "2.0.0-beta.1" are far shorter.
_VERSION_CHARS: Final = 40
_LONGEST: Final = 10**_VERSION_CHARS


def load_pact(path: Path) -> Pact:
    """The pact in the file at `path`, or PactInvalid saying why it cannot be read."""
    source = str(path)
    try:
        data = read_regular_file(path, MAX_PACT_BYTES)
    except FileNotFoundError:
        raise PactInvalid(source, ["no such file"]) from None
    except (IsADirectoryError, NotAFile):
        raise PactInvalid(source, ["not a file"]) from None
    except OSError as error:
        raise PactInvalid(source, [f"cannot be read: {error.strerror or error}"]) from None
    if len(data) > MAX_PACT_BYTES:
        raise PactInvalid(
            source, [f"larger than {MAX_PACT_BYTES // (1024 * 1024)} MB, which no pact is"]
        )
    try:
        document = orjson.loads(data.removeprefix(b"\xef\xbb\xbf"))
    except orjson.JSONDecodeError as error:
        raise PactInvalid(source, [f"not JSON: {error}"]) from None
    return parse_pact(document, source)


def parse_pact(document: Any, source: str) -> Pact:
    """The pact `document` (a parsed pact file) holds; `source` names it in messages."""
    if not isinstance(document, dict):
        raise PactInvalid(source, [f"a pact is a JSON object, got {kind_of(document)}"])
    problems = Problems()
    consumer = _party_name(document, "consumer", problems)
    provider = _party_name(document, "provider", problems)
    declared = _declared_version(document.get("metadata"), problems)
    major = _major_version(declared, document, problems)
    interactions, skipped = _interactions(document, major, problems)
    if problems.lines:
        raise PactInvalid(source, problems.bounded())
    return Pact(
        consumer=consumer,
        provider=provider,
        specification=declared[1] if declared else {2: "2.0.0", 3: "3.0.0", 4: "4.0"}[major],
        interactions=tuple(interactions),
        source=source,
        skipped=tuple(skipped),
    )


def _party_name(document: dict[str, Any], role: str, problems: Problems) -> str:
    party = document.get(role)
    if not isinstance(party, dict):
        found = "missing" if party is None else f"must be an object, got {kind_of(party)}"
        problems.add(role, f'{found} (a pact names its {role} as {{"name": ...}})')
        return ""
    name = party.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.add(f"{role}.name", must_be("a non-empty string", name))
        return ""
    return name


def _declared_version(metadata: Any, problems: Problems) -> tuple[str, str] | None:
    """The Pact specification version the file says it follows, if it says, and the field
    that says it (`metadata.pactSpecification.version`)."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        problems.add("metadata", f"must be an object, got {kind_of(metadata)}")
        return None
    found: tuple[str, Any] | None = None
    for key in ("pactSpecification", "pact-specification", "pact_specification"):
        section = metadata.get(key)
        if isinstance(section, dict) and "version" in section:
            found = (f"metadata.{key}.version", section["version"])
            break
    if found is None and "pactSpecificationVersion" in metadata:
        found = ("metadata.pactSpecificationVersion", metadata["pactSpecificationVersion"])
    if found is None:
        return None
    where, version = found
    text: str | None = None
    if isinstance(version, str) and version.strip():
        text = version.strip()
    elif isinstance(version, float) or (
        isinstance(version, int) and not isinstance(version, bool) and abs(version) < _LONGEST
    ):
        text = str(version)
    if text is not None and len(text) <= _VERSION_CHARS:
        return where, text
    problems.add(where, must_be('a version such as "4.0"', version))
    return None


def _major_version(
    declared: tuple[str, str] | None, document: dict[str, Any], problems: Problems
) -> int:
    """2 (for v1, v1.1 and v2, which read alike), 3 or 4: declared, or else read from the
    shape of the interactions."""
    if declared is not None:
        where, version = declared
        match = _VERSION.match(version)
        major = int(match.group(1)) if match else 0
        if 1 <= major <= 4:
            return max(major, 2)
        problems.add(
            where, f"Pact specification {shown(version)} is not one the tools read (1 to 4)"
        )
        return 2
    interactions = document.get("interactions")
    items = (
        [item for item in interactions if isinstance(item, dict)]
        if isinstance(interactions, list)
        else []
    )
    if any("type" in item for item in items):
        return 4
    if any("providerStates" in item for item in items):
        return 3
    return 2


def _interactions(
    document: dict[str, Any], major: int, problems: Problems
) -> tuple[list[Interaction], list[str]]:
    """The HTTP interactions, and a line for each one of another kind, left out."""
    raw = document.get("interactions")
    if raw is None:
        messages = document.get("messages")
        if isinstance(messages, list):  # a v3 message pact: nothing HTTP in it
            return [], [
                f"messages[{index}]{_described(item)}: a message; only "
                f"{HTTP_INTERACTION} interactions are verified"
                for index, item in enumerate(messages)
            ]
        problems.add("interactions", "missing (a pact lists its interactions)")
        return [], []
    if not isinstance(raw, list):
        problems.add("interactions", f"must be a list, got {kind_of(raw)}")
        return [], []
    interactions: list[Interaction] = []
    skipped: list[str] = []
    for index, item in enumerate(raw):
        where = f"interactions[{index}]"
        if not isinstance(item, dict):
            problems.add(where, f"must be an object, got {kind_of(item)}")
            continue
        before = len(problems.lines)
        reason = _not_http(item, major, where, problems)
        if len(problems.lines) > before:
            continue
        if reason is not None:
            skipped.append(f"{where}{_described(item)}: {reason}")
            continue
        interaction = read_interaction(index, item, major, where, problems)
        if isinstance(interaction, str):
            skipped.append(f"{where}{_described(item)}: {interaction}")
        elif interaction is not None:
            interactions.append(interaction)
    return interactions, skipped


def _described(item: Any) -> str:
    description = item.get("description") if isinstance(item, dict) else None
    return f" ({shown(description)})" if isinstance(description, str) else ""


def _not_http(item: dict[str, Any], major: int, where: str, problems: Problems) -> str | None:
    """Why the interaction is left out (a message, a plugin's kind), or None to read it."""
    kind = item.get("type")
    if kind is None:
        if major >= 4 and "request" not in item:
            problems.add(
                f"{where}.type",
                f'missing (a v4 interaction says its type, such as "{HTTP_INTERACTION}")',
            )
        return None
    if not isinstance(kind, str):
        problems.add(f"{where}.type", must_be("a string", kind))
        return None
    if kind == HTTP_INTERACTION:
        return None
    return f"its type is {kind}; only {HTTP_INTERACTION} interactions are verified"
