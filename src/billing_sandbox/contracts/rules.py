"""A pact's matching rules and generators, whichever version wrote them, into one form: rules by
category and place, each matcher a v3/v4 object whose settings are checked here, so the
verifier and the static check never meet v2's `$.body.x` keys or a tool's own spelling of a
matcher name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from billing_sandbox.contracts.jsonpath import PathError, parse_path, render_steps
from billing_sandbox.contracts.model import CATEGORIES, Generators, Rules, RuleSet
from billing_sandbox.contracts.problems import Problems, must_be, place_in

# eachKey, eachValue and arrayContains hold rules of their own; real pacts nest them a level
# or two, and the bound keeps a hostile file from recursing without end.
MAX_RULE_NESTING: Final = 8

# Matcher names as the various Pact tools spell them, to the v3/v4 spelling.
_MATCHER_ALIASES: Final = {
    "content-type": "contentType",
    "array-contains": "arrayContains",
    "status-code": "statusCode",
    "not-empty": "notEmpty",
    "each-key": "eachKey",
    "each-value": "eachValue",
    "real": "decimal",
}
# Length-bounded type matchers: v3/v4 write them all as `{"match": "type", "min"/"max": n}`.
_LENGTH_MATCHERS: Final = {"min", "max", "minType", "maxType", "min-type", "max-type"}
_DATE_MATCHERS: Final = {"date", "time", "timestamp", "datetime"}
STATUS_CLASSES: Final = {
    "information": (100, 199),
    "success": (200, 299),
    "redirect": (300, 399),
    "clientError": (400, 499),
    "serverError": (500, 599),
    "nonError": (100, 399),
    "error": (400, 599),
}
_CATEGORY_ALIASES: Final = {"headers": "header"}


def read_rules(raw: Any, at: str, problems: Problems) -> Rules:
    """Matching rules by category: v3/v4's categories, or v2's `$.body.x`, `$.headers.Name`,
    `$.query.name` and `$.path` keys, sorted into the same categories."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.add(at, must_be("an object", raw))
        return {}
    rules: Rules = {}
    for key, value in raw.items():
        where = place_in(at, key)
        if key.startswith("$"):
            _add_v2_rule(rules, key, value, where, problems)
            continue
        category = _CATEGORY_ALIASES.get(key.lower(), key.lower())
        if category not in CATEGORIES:
            continue  # method, metadata, contents: nothing an HTTP exchange is compared on
        if not isinstance(value, dict):
            problems.add(where, must_be("an object", value))
        elif category in ("path", "status"):
            _add_whole_category(rules, category, value, where, problems)
        else:
            for name, entry in value.items():
                place = _rule_place(category, name, place_in(where, name), problems)
                rule_set = _rule_set(entry, place_in(where, name), problems, depth=0)
                if place is not None and rule_set is not None:
                    _merge(rules, category, place, rule_set)
    return rules


def _add_whole_category(
    rules: Rules, category: str, value: dict[str, Any], where: str, problems: Problems
) -> None:
    """The path and the status have one rule set: written bare (`{"matchers": [...]}`), or
    keyed by some name (`"$"`), which says nothing more."""
    entries = (
        [(where, value)]
        if "matchers" in value
        else [(place_in(where, name), entry) for name, entry in value.items()]
    )
    for entry_at, entry in entries:
        rule_set = _rule_set(entry, entry_at, problems, depth=0)
        if rule_set is not None:
            _merge(rules, category, "", rule_set)


def _add_v2_rule(rules: Rules, key: str, value: Any, where: str, problems: Problems) -> None:
    try:
        steps = parse_path(key)
    except PathError as error:
        problems.add(where, f"not a JSON path as Pact writes them: {error}")
        return
    head = steps[0].name if steps else None
    rule_set = _rule_set(value, where, problems, depth=0)
    if head == "body":
        place = render_steps(steps[1:])
        category = "body"
    elif head in ("headers", "header", "query") and len(steps) > 1 and steps[1].name:
        place = steps[1].name
        category = "query" if head == "query" else "header"
    elif head in ("path", "status") and len(steps) == 1:
        place = ""
        category = head
    else:
        problems.add(where, "a v2 rule names $.body..., $.headers.<name>, $.query.<name> or $.path")
        return
    if rule_set is not None:
        _merge(rules, category, place, rule_set)


def _rule_place(category: str, name: str, where: str, problems: Problems) -> str | None:
    """Where in its category a rule applies: a body rule's path as Pact writes it, else the
    header or query name as it is."""
    if category != "body":
        return name
    return _body_path(name, where, problems)


def _body_path(name: str, where: str, problems: Problems) -> str | None:
    text = name if name.startswith("$") else ("$" if name.startswith("[") else "$.") + name
    try:
        return render_steps(parse_path(text))
    except PathError as error:
        problems.add(where, f"not a JSON path as Pact writes them: {error}")
        return None


def _merge(rules: Rules, category: str, place: str, rule_set: RuleSet) -> None:
    """Two entries for one place (v2 and v3 spellings of one header, say) hold together."""
    existing = rules.setdefault(category, {}).get(place)
    if existing is not None:
        rule_set = RuleSet(existing.matchers + rule_set.matchers, existing.combine)
    rules[category][place] = rule_set


def _rule_set(raw: Any, at: str, problems: Problems, depth: int) -> RuleSet | None:
    """`{"matchers": [...], "combine": "AND"}`, or v2's single matcher object."""
    if not isinstance(raw, dict):
        problems.add(at, must_be('an object such as {"matchers": [...]}', raw))
        return None
    if "matchers" not in raw:
        matcher = _matcher(raw, at, problems, depth)
        return RuleSet((matcher,)) if matcher is not None else None
    listed = raw["matchers"]
    combine = raw.get("combine", "AND")
    if not isinstance(combine, str) or combine.upper() not in ("AND", "OR"):
        problems.add(f"{at}.combine", must_be('"AND" or "OR"', combine))
        combine = "AND"
    if not isinstance(listed, list):
        problems.add(f"{at}.matchers", must_be("a list", listed))
        return None
    matchers = [
        matcher
        for position, entry in enumerate(listed)
        if (matcher := _matcher(entry, f"{at}.matchers[{position}]", problems, depth)) is not None
    ]
    return RuleSet(tuple(matchers), combine.upper()) if matchers else None


def _matcher(raw: Any, at: str, problems: Problems, depth: int) -> dict[str, Any] | None:
    """One matcher, in the v3/v4 object form: `{"match": name, ...its settings}`."""
    if depth > MAX_RULE_NESTING:
        problems.add(at, f"matchers nested more than {MAX_RULE_NESTING} deep")
        return None
    if not isinstance(raw, dict):
        problems.add(at, must_be('a matcher object such as {"match": "type"}', raw))
        return None
    declared = raw.get("match", raw.get("pact:matcher:type"))
    if declared is not None and not isinstance(declared, str):
        problems.add(f"{at}.match", must_be("a matcher name", declared))
        return None
    kind = matcher_kind(raw)
    if kind is None:
        problems.add(at, 'has no "match" and is no v2 matcher (regex, min, max, date...)')
        return None
    matcher = {key: value for key, value in raw.items() if key != "pact:matcher:type"}
    matcher["match"] = kind
    return matcher if _settings_valid(matcher, at, problems, depth) else None


def matcher_kind(matcher: dict[str, Any]) -> str | None:
    """A matcher's name as v3/v4 spell it (`{"match": "min", "min": 1}` is a "type" matcher
    with a minimum, as v3 writes it); for v2's matchers without `match`, what Pact's reference
    implementation takes them for; None when it cannot tell."""
    declared = matcher.get("match", matcher.get("pact:matcher:type"))
    if isinstance(declared, str):
        return _MATCHER_ALIASES.get(declared, "type" if declared in _LENGTH_MATCHERS else declared)
    if declared is not None:
        return None
    if "regex" in matcher:
        return "regex"
    if "min" in matcher or "max" in matcher:
        return "type"
    return next((kind for kind in ("timestamp", "time", "date") if kind in matcher), None)


def _settings_valid(matcher: dict[str, Any], at: str, problems: Problems, depth: int) -> bool:
    """Check (and where needed complete) a matcher's own settings."""
    kind = matcher["match"]
    before = len(problems.lines)
    if kind == "regex" and not isinstance(matcher.get("regex"), str):
        problems.add(f"{at}.regex", must_be("a regular expression", matcher.get("regex")))
    elif kind == "type":
        for bound in ("min", "max"):
            value = matcher.get(bound)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 0
            ):
                problems.add(f"{at}.{bound}", must_be("a count (0 or more)", value))
    elif kind in _DATE_MATCHERS:
        form = matcher.get("format", matcher.get(kind))
        if form is not None and not isinstance(form, str):
            problems.add(f"{at}.format", must_be("a date format", form))
        elif form:
            matcher["format"] = form
    elif kind in ("include", "contentType") and not isinstance(matcher.get("value"), str):
        problems.add(f"{at}.value", must_be("a string", matcher.get("value")))
    elif kind == "statusCode":
        _check_status_setting(matcher, at, problems)
    elif kind in ("eachKey", "eachValue"):
        matcher["rules"] = _nested_matchers(matcher.get("rules"), f"{at}.rules", problems, depth)
    elif kind == "arrayContains":
        matcher["variants"] = _variants(matcher.get("variants"), f"{at}.variants", problems, depth)
    return len(problems.lines) == before


def _check_status_setting(matcher: dict[str, Any], at: str, problems: Problems) -> None:
    status = matcher.setdefault("status", "success")  # the reference implementation's default
    if isinstance(status, str) and status in STATUS_CLASSES:
        return
    if (
        isinstance(status, list)
        and status
        and all(isinstance(code, int) and not isinstance(code, bool) for code in status)
    ):
        return
    known = ", ".join(STATUS_CLASSES)
    problems.add(f"{at}.status", must_be(f"one of {known}, or a list of codes", status))


def _nested_matchers(raw: Any, at: str, problems: Problems, depth: int) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.add(at, must_be("a list of matchers", raw))
        return []
    return [
        matcher
        for position, entry in enumerate(raw)
        if (matcher := _matcher(entry, f"{at}[{position}]", problems, depth + 1)) is not None
    ]


def _variants(raw: Any, at: str, problems: Problems, depth: int) -> list[dict[str, Any]]:
    """arrayContains' variants: each the index of an example item and the rules, keyed by
    paths from that item (`$` is the item), it must be matched with."""
    if not isinstance(raw, list):
        problems.add(at, must_be("a list of variants", raw))
        return []
    variants: list[dict[str, Any]] = []
    for position, variant in enumerate(raw):
        where = f"{at}[{position}]"
        if not isinstance(variant, dict):
            problems.add(where, must_be("an object with an index and rules", variant))
            continue
        index = variant.get("index", 0)
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            problems.add(f"{where}.index", must_be("an index (0 or more)", index))
            continue
        rules = variant.get("rules")
        normalised: dict[str, dict[str, Any]] = {}
        if rules is not None and not isinstance(rules, dict):
            problems.add(f"{where}.rules", must_be("an object of rules by path", rules))
        for name, entry in (rules or {}).items() if isinstance(rules, dict) else ():
            entry_at = place_in(f"{where}.rules", name)
            place = _body_path(name, entry_at, problems)
            rule_set = _rule_set(entry, entry_at, problems, depth + 1)
            if place is not None and rule_set is not None:
                normalised[place] = {
                    "combine": rule_set.combine,
                    "matchers": list(rule_set.matchers),
                }
        variants.append({**variant, "index": index, "rules": normalised})
    return variants


def read_generators(raw: Any, at: str, problems: Problems) -> Generators:
    """Generators by category; the path's and the status's (one each, written bare) under ""."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.add(at, must_be("an object", raw))
        return {}
    generators: Generators = {}
    for key, value in raw.items():
        category = _CATEGORY_ALIASES.get(key.lower(), key.lower())
        where = place_in(at, key)
        if category not in CATEGORIES:
            continue
        if not isinstance(value, dict):
            problems.add(where, must_be("an object", value))
            continue
        if category in ("path", "status") and "type" in value:
            entries: Iterator[tuple[str, Any]] = iter([("", value)])
        else:
            entries = iter(value.items())
        for name, generator in entries:
            entry_at = place_in(where, name) if name else where
            if not isinstance(generator, dict) or not isinstance(generator.get("type"), str):
                problems.add(
                    entry_at, must_be('a generator such as {"type": "RandomInt"}', generator)
                )
                continue
            place = _body_path(name, entry_at, problems) if category == "body" else name
            if place is not None:
                generators.setdefault(category, {})[place] = dict(generator)
    return generators
