"""A response body compared with the pact's example, place by place: with no rule, everything
the example holds must be there as it is (extra keys are fine); where rules apply, the one that
fits the place best (as Pact's reference picks) loosens the comparison, and the walk follows
it into objects and arrays."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from billing_sandbox.contracts.bodies import is_json_media_type, media_type
from billing_sandbox.contracts.jsonpath import (
    PathError,
    Place,
    Step,
    parse_path,
    render,
    shown,
    weight,
)
from billing_sandbox.contracts.matchers import (
    NOT_CASCADING,
    a_type,
    json_equal,
    leaf_problem,
    same_type,
)
from billing_sandbox.contracts.mismatch import Mismatch
from billing_sandbox.contracts.model import Response, RuleSet
from billing_sandbox.contracts.rules import matcher_kind

# A pact's example or an answer nested deeper than this is not compared further (and said):
# real bodies nest a handful of levels, and the bound keeps recursion far from Python's limit.
MAX_DEPTH: Final = 100


@dataclass(frozen=True)
class _PathRule:
    steps: tuple[Step, ...]
    rule_set: RuleSet


def body_mismatches(
    expected: Response, headers: Mapping[str, str], body: Any, has_body: bool
) -> list[Mismatch]:
    if not has_body:
        return [Mismatch("body", "missing (the pact expects a body)")]
    content_type = next(
        (value for name, value in headers.items() if name.lower() == "content-type"), None
    )
    found: list[Mismatch] = []
    rules: list[_PathRule] = []
    for path, rule_set in expected.rules.get("body", {}).items():
        try:
            rules.append(_PathRule(parse_path(path), rule_set))
        except PathError as error:
            found.append(Mismatch("body", f"the pact's rule at {shown(path)} has no path: {error}"))
    return found + _Comparison(tuple(rules), content_type).compare((), expected.body, body, 0)


class _Comparison:
    """A body compared with the pact's example under its rules, place by place."""

    def __init__(self, rules: tuple[_PathRule, ...], content_type: str | None) -> None:
        self.rules = rules
        self.content_type = content_type

    def compare(self, place: Place, expected: Any, actual: Any, depth: int) -> list[Mismatch]:
        if depth > MAX_DEPTH:
            reason = f"nested more than {MAX_DEPTH} levels deep, past what the verifier compares"
            return [self._at(place, reason)]
        chosen = self._rule_at(place)
        if chosen is None:
            return self._structure(place, expected, actual, depth)
        matchers, combine, cascaded = chosen
        outcomes = [
            self._matcher(matcher, place, expected, actual, cascaded, depth) for matcher in matchers
        ]
        if combine == "OR" and any(not outcome for outcome in outcomes):
            return []
        return [mismatch for outcome in outcomes for mismatch in outcome]

    def _rule_at(self, place: Place) -> tuple[tuple[dict[str, Any], ...], str, bool] | None:
        """The rules that apply at `place`: of the rules written at it or at a place above it,
        the best fit (see `weight`; longer paths count for more), as Pact's reference picks.
        From above, a rule cascades, less the matchers that only hold where written."""
        best: _PathRule | None = None
        best_score = 0
        for rule in self.rules:
            score = weight(rule.steps, place) * (len(rule.steps) + 1)
            if score > best_score and rule.rule_set.matchers:
                best, best_score = rule, score
        if best is None:
            return None
        cascaded = len(best.steps) != len(place)
        matchers = best.rule_set.matchers
        if cascaded:
            matchers = tuple(m for m in matchers if matcher_kind(m) not in NOT_CASCADING)
        return (matchers, best.rule_set.combine, cascaded) if matchers else None

    def _at(self, place: Place, message: str) -> Mismatch:
        return Mismatch(f"body {render(place)}", message)

    # -- without rules: the example as it is, extra keys allowed --

    def _structure(self, place: Place, expected: Any, actual: Any, depth: int) -> list[Mismatch]:
        if isinstance(expected, dict | list) and not same_type(expected, actual):
            return [self._at(place, f"expected {a_type(expected)}, got {shown(actual)}")]
        if isinstance(expected, dict):
            return self._keys(place, expected, actual, depth)
        if isinstance(expected, list):
            found = []
            if len(expected) != len(actual):
                found.append(
                    self._at(place, f"expected {_items(len(expected))}, got {len(actual)}")
                )
            for index, (example, item) in enumerate(zip(expected, actual, strict=False)):
                found += self.compare((*place, index), example, item, depth + 1)
            return found
        if json_equal(expected, actual):
            return []
        return [self._at(place, f"expected {shown(expected)}, got {shown(actual)}")]

    def _keys(
        self, place: Place, expected: dict[str, Any], actual: dict[str, Any], depth: int
    ) -> list[Mismatch]:
        """Every key the example has must be there, each value compared; others are fine."""
        found: list[Mismatch] = []
        for key, example in expected.items():
            if key not in actual:
                found.append(self._at((*place, key), "missing (the pact expects it)"))
            else:
                found += self.compare((*place, key), example, actual[key], depth + 1)
        return found

    def _elements(
        self, place: Place, expected: list[Any], actual: list[Any], depth: int
    ) -> list[Mismatch]:
        """Each item compared with the example's item at its place or, past the example's
        end, its first: under a rule an array has any length, its items like the example's.
        With no example item at all, only the rules judge an item (it is its own example)."""
        found: list[Mismatch] = []
        for index, item in enumerate(actual):
            example = expected[index] if index < len(expected) else (expected or [item])[0]
            found += self.compare((*place, index), example, item, depth + 1)
        return found

    # -- one matcher at one place --

    def _matcher(
        self,
        matcher: dict[str, Any],
        place: Place,
        expected: Any,
        actual: Any,
        cascaded: bool,
        depth: int,
    ) -> list[Mismatch]:
        kind = matcher_kind(matcher)
        container = isinstance(actual, dict | list)
        if kind in ("type", "notEmpty") and container and same_type(expected, actual):
            return self._like(matcher, kind, place, expected, actual, cascaded, depth)
        if kind == "equality" and container:
            return self._structure(place, expected, actual, depth)
        if kind == "values" and container and same_type(expected, actual):
            return self._values(place, expected, actual, depth)
        if kind == "eachKey":
            return self._each_key(matcher, place, expected, actual, depth)
        if kind == "eachValue":
            return self._each_value(matcher, place, expected, actual, depth)
        if kind == "arrayContains":
            return self._array_contains(matcher, place, expected, actual, depth)
        if kind == "contentType":
            return self._content_type(matcher, place, actual)
        if container and cascaded and isinstance(expected, dict | list):
            # A leaf's rule from above (a regex on `$`, say) reaches the leaves inside.
            return self._structure(place, expected, actual, depth)
        problem = leaf_problem(matcher, kind, expected, actual, text=False)
        return [self._at(place, problem)] if problem else []

    def _like(
        self,
        matcher: dict[str, Any],
        kind: str,
        place: Place,
        expected: Any,
        actual: Any,
        cascaded: bool,
        depth: int,
    ) -> list[Mismatch]:
        """type (with min/max) and notEmpty on an object or array: its size where the rule is
        written, then what is inside, like the example's."""
        found: list[Mismatch] = []
        noun = "items" if isinstance(actual, list) else "keys"
        if kind == "notEmpty" and not actual:
            found.append(self._at(place, f"expected some {noun}, got none"))
        if not cascaded:
            least, most = matcher.get("min"), matcher.get("max")
            if isinstance(least, int) and len(actual) < least:
                found.append(
                    self._at(place, f"expected at least {_items(least, noun)}, got {len(actual)}")
                )
            if isinstance(most, int) and len(actual) > most:
                found.append(
                    self._at(place, f"expected at most {_items(most, noun)}, got {len(actual)}")
                )
        if isinstance(actual, list):
            return found + self._elements(place, expected, actual, depth)
        return found + self._keys(place, expected, actual, depth)

    def _values(self, place: Place, expected: Any, actual: Any, depth: int) -> list[Mismatch]:
        """values: an object's keys are not pinned; each value is compared with the example's
        value of that key, or else its first."""
        if isinstance(actual, list):
            return self._elements(place, expected, actual, depth)
        return self._entries(place, expected, actual, depth)

    def _entries(
        self, place: Place, expected: dict[str, Any], actual: dict[str, Any], depth: int
    ) -> list[Mismatch]:
        """Each value of the answer's object compared with the example's value of its key, or
        else the example's first (or, with no example at all, only by the rules)."""
        first = next(iter(expected.values()), None) if expected else None
        found: list[Mismatch] = []
        for key, item in actual.items():
            example = expected.get(key, first if expected else item)
            found += self.compare((*place, key), example, item, depth + 1)
        return found

    def _each_key(
        self, matcher: dict[str, Any], place: Place, expected: Any, actual: Any, depth: int
    ) -> list[Mismatch]:
        """eachKey: every key of the answer's object meets the nested rules (the keys are not
        pinned to the example's); values under keys both have are compared."""
        if not isinstance(actual, dict):
            return [self._at(place, f"expected an object, got {shown(actual)}")]
        found: list[Mismatch] = []
        nested = _nested(matcher)
        for key in actual:
            for rule in nested:
                problem = leaf_problem(rule, matcher_kind(rule), key, key, text=True)
                if problem:
                    found.append(self._at((*place, key), f"key {shown(key)}: {problem}"))
        for key, example in (expected if isinstance(expected, dict) else {}).items():
            if key in actual:
                found += self.compare((*place, key), example, actual[key], depth + 1)
        return found

    def _each_value(
        self, matcher: dict[str, Any], place: Place, expected: Any, actual: Any, depth: int
    ) -> list[Mismatch]:
        """eachValue: every value of the answer's object or array meets the nested rules,
        which act as a rule at `place.*` (and cascade below it)."""
        if not isinstance(actual, dict | list):
            return [self._at(place, f"expected an object or an array, got {shown(actual)}")]
        here = tuple(Step(index=key) if isinstance(key, int) else Step(name=key) for key in place)
        nested = _PathRule((*here, Step(any_name=True)), RuleSet(tuple(_nested(matcher))))
        inner = _Comparison((nested, *self.rules), self.content_type)
        if isinstance(actual, dict):
            examples = expected if isinstance(expected, dict) else {}
            return inner._entries(place, examples, actual, depth)
        return inner._elements(place, expected if isinstance(expected, list) else [], actual, depth)

    def _array_contains(
        self, matcher: dict[str, Any], place: Place, expected: Any, actual: Any, depth: int
    ) -> list[Mismatch]:
        """arrayContains: for each variant (an item of the example, with its own rules), some
        item of the answer's array matches it; order and other items do not matter."""
        if not isinstance(actual, list):
            return [self._at(place, f"expected an array, got {shown(actual)}")]
        examples = expected if isinstance(expected, list) else []
        variants = matcher.get("variants") or [{"index": index} for index in range(len(examples))]
        found: list[Mismatch] = []
        for variant in variants:
            index = variant.get("index", 0) if isinstance(variant, dict) else None
            if not isinstance(index, int) or not 0 <= index < len(examples):
                found.append(
                    self._at(
                        place,
                        f"the pact's arrayContains names item {index}, "
                        f"but its example has {_items(len(examples))}",
                    )
                )
                continue
            inner = _Comparison(_variant_rules(variant.get("rules")), self.content_type)
            example = examples[index]
            if not any(not inner.compare((), example, item, depth + 1) for item in actual):
                found.append(
                    self._at(place, f"no item matches the pact's item {index}: {shown(example)}")
                )
        return found

    def _content_type(self, matcher: dict[str, Any], place: Place, actual: Any) -> list[Mismatch]:
        """contentType: the body is of that type. JSON is told by the answer (parsed, or JSON
        text); other types by the answer's Content-Type."""
        wanted = str(matcher.get("value", ""))
        if is_json_media_type(wanted) and _is_json(actual):
            return []
        media = media_type(self.content_type)[0] if self.content_type else None
        if media is not None and media == media_type(wanted)[0]:
            return []
        said = shown(self.content_type) if self.content_type else "no Content-Type"
        return [self._at(place, f"expected content of type {shown(wanted)}, got {said}")]


def _nested(matcher: dict[str, Any]) -> list[dict[str, Any]]:
    rules = matcher.get("rules")
    return [rule for rule in rules if isinstance(rule, dict)] if isinstance(rules, list) else []


def _variant_rules(raw: Any) -> tuple[_PathRule, ...]:
    """A variant's rules, keyed by paths from the item (as rules.py leaves them)."""
    rules: list[_PathRule] = []
    for path, entry in (raw if isinstance(raw, dict) else {}).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("matchers"), list):
            continue
        matchers = tuple(m for m in entry["matchers"] if isinstance(m, dict))
        try:
            rules.append(
                _PathRule(parse_path(path), RuleSet(matchers, str(entry.get("combine", "AND"))))
            )
        except PathError:
            continue  # reading.py refuses such a pact; a hand-made Response is on its maker
    return tuple(rules)


def _is_json(body: Any) -> bool:
    if not isinstance(body, str):
        return True
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return True


def _items(count: int, noun: str = "items") -> str:
    return f"{count} {noun[:-1] if count == 1 else noun}"
