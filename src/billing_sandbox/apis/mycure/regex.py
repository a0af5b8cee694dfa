"""MYCURE `$regex` on RE2: matched in time linear in the text, or refused naming what RE2 lacks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import re2

from billing_sandbox.apis.mycure.limits import (
    MAX_REGEX_INSTRUCTIONS,
    MAX_REGEX_LENGTH,
    REGEX_MEMORY_BYTES,
)
from billing_sandbox.apis.mycure.querystring import describe
from billing_sandbox.errors import BadRequest

_LETTERS: Final = frozenset("imsx")
# PCRE's whitespace for `x` (Perl's \s in ASCII): what the layout may use between tokens.
_LAYOUT: Final = frozenset(" \t\n\x0b\x0c\r")

# RE2 stops at the first fragment it cannot run and names it; these are the PCRE constructs
# (MongoDB's regex dialect) behind the fragments, by prefix. RE2 has no backtracking, so
# everything that needs it is here.
_OPERATORS: Final = (
    ("(?=", "a lookahead"),
    ("(?!", "a negative lookahead"),
    ("(?<=", "a lookbehind"),
    ("(?<!", "a negative lookbehind"),
    ("(?>", "an atomic group"),
    ("(?(", "a conditional group"),
    ("(?|", "a branch reset group"),
    ("(?#", "a comment group"),
    ("(?R", "a recursion"),
    ("(?&", "a subroutine call"),
    ("(?'", "a group named in quotes"),
    ("(?C", "a callout"),
)
_ESCAPES: Final = {
    "\\k": "a named backreference",
    "\\g": "a backreference",
    "\\Z": "an end-or-before-a-final-newline anchor",
    "\\G": "a start-of-match anchor",
    "\\K": "a match-start reset",
}
_INLINE_FLAG: Final = "an inline flag RE2 lacks"
# What to write instead, where there is something.
_INSTEAD: Final = {
    "an end-or-before-a-final-newline anchor": "use \\z or $ (to RE2, both are the very end)",
    _INLINE_FLAG: "RE2 has (?i), (?m), (?s) and (?U), and x goes in $options",
}


@dataclass(frozen=True)
class Regex:
    """A compiled `$regex` and what a search with it costs per byte of text, at worst."""

    compiled: Any  # re2's pattern (the package has no type hints)
    instructions: int  # RE2's program size: its worst per-byte work

    def search(self, text: str) -> bool:
        return self.compiled.search(text) is not None


def compile_regex(pattern: Any, options: Any, name: str, options_name: str) -> Regex:
    """`$regex` with its `$options` letters: i, m, s as in MongoDB; x by PCRE's own rule for
    the layout it allows (see `without_layout`). A mistake, or a construct only a backtracking
    engine runs, is a 400 that names it."""
    if not isinstance(pattern, str):
        raise BadRequest(f"{name} must be a string, got {describe(pattern)}")
    if len(pattern) > MAX_REGEX_LENGTH:
        raise BadRequest(
            f"{name} must be at most {MAX_REGEX_LENGTH} characters, got {len(pattern)}"
        )
    if not isinstance(options, str) or not _LETTERS.issuperset(options):
        raise BadRequest(f"{options_name} must be letters from imsx, got {describe(options)}")
    if "x" in options:
        pattern = without_layout(pattern)
    settings = re2.Options()
    settings.max_mem = REGEX_MEMORY_BYTES
    settings.never_capture = True  # a find asks only whether a value matches, never where
    settings.log_errors = False  # a refused pattern is the client's 400, not a server log line
    settings.case_sensitive = "i" not in options
    settings.dot_nl = "s" in options
    # RE2 has no option for `m` outside its POSIX syntax; its Perl syntax takes the flag inline.
    try:
        compiled = re2.compile(f"(?m){pattern}" if "m" in options else pattern, settings)
    except re2.error as error:
        raise BadRequest(_refusal(name, pattern, _text(error))) from None
    # The binding offers RE2's program size only on its inner object.
    instructions = int(compiled._regexp.ProgramSize())
    if instructions > MAX_REGEX_INSTRUCTIONS:
        raise BadRequest(_too_large(name, f"{instructions} RE2 instructions"))
    return Regex(compiled, instructions)


def without_layout(pattern: str) -> str:
    """The pattern as PCRE reads it under `x`: outside character classes and `\\Q…\\E`,
    whitespace that is not escaped is dropped, and `#` starts a comment to the line's end."""
    kept: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            stop = _quoted_end(pattern, index) if pattern.startswith("\\Q", index) else index + 2
        elif char == "[":
            stop = _class_end(pattern, index)
        elif char == "#":
            newline = pattern.find("\n", index)
            index = len(pattern) if newline == -1 else newline + 1
            continue
        elif char in _LAYOUT:
            index += 1
            continue
        else:
            stop = index + 1
        kept.append(pattern[index:stop])
        index = stop
    return "".join(kept)


def _quoted_end(pattern: str, start: int) -> int:
    """Just past the `\\E` closing the `\\Q` at `start` (or the pattern's end)."""
    close = pattern.find("\\E", start + 2)
    return len(pattern) if close == -1 else close + 2


def _class_end(pattern: str, start: int) -> int:
    """Just past the `]` closing the class opened at `start`: a `]` first in the class (after
    any `^`) is literal, as are escaped characters; `[:alpha:]` sits inside a class whole."""
    index = start + 1
    if pattern.startswith("^", index):
        index += 1
    if pattern.startswith("]", index):
        index += 1
    while index < len(pattern):
        if pattern[index] == "\\":
            index += 2
        elif pattern.startswith("[:", index) and (close := pattern.find(":]", index + 2)) != -1:
            index = close + 2
        elif pattern[index] == "]":
            return index + 1
        else:
            index += 1
    return len(pattern)


def _text(error: Exception) -> str:
    """RE2's message (the binding passes it on as bytes)."""
    message = error.args[0] if error.args else ""
    return message.decode(errors="replace") if isinstance(message, bytes) else str(message)


def _refusal(name: str, pattern: str, message: str) -> str:
    """The 400's message for a pattern RE2 refused, naming the construct when RE2 lacks it."""
    reason, _, fragment = message.partition(": ")
    construct = _construct(reason, fragment, pattern)
    if construct is not None:
        instead = _INSTEAD.get(construct)
        return (
            f"{name} uses {construct} ({fragment}), which the sandbox's linear-time matcher "
            f"does not run{f': {instead}' if instead else ''}"
        )
    if message.startswith("pattern too large"):
        return _too_large(name, f"over {REGEX_MEMORY_BYTES // 1024} KiB compiled")
    return f"{name} is not a valid regular expression: {message}"


def _construct(reason: str, fragment: str, pattern: str) -> str | None:
    """The PCRE construct behind one of RE2's refusals, or None for a plain mistake."""
    if reason == "invalid perl operator":
        if fragment == "(?P":  # `(?P<name>` is fine: it is `(?P=name)` or `(?P>name)`
            return "a named backreference" if "(?P=" in pattern else "a recursion"
        if fragment[2:3].isdigit() or (fragment[2:3] in ("+", "-") and fragment[3:4].isdigit()):
            return "a recursion"
        known = next((what for start, what in _OPERATORS if fragment.startswith(start)), None)
        if known is None and fragment[2:].replace("-", "").isalpha():
            return _INLINE_FLAG
        return known
    if reason == "invalid escape sequence":
        if fragment[1:2].isdigit() and fragment[1:2] != "0":
            return "a backreference"
        return _ESCAPES.get(fragment[:2])
    if reason == "bad repetition operator" and len(fragment) > 1 and fragment.endswith("+"):
        return "a possessive quantifier"
    if reason == "invalid repetition size":
        return "a repetition count over 1000 (nested counts multiply)"
    return None


def _too_large(name: str, size: str) -> str:
    return (
        f"{name} is too large for the sandbox's linear-time matcher ({size}; at most "
        f"{MAX_REGEX_INSTRUCTIONS} instructions): use smaller repetition counts or fewer "
        "Unicode classes"
    )
