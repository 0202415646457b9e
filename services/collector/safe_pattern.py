"""Checks that reject regular expressions whose backtracking could take exponential or high polynomial time."""

import re
from dataclasses import dataclass
from re import _constants as sre_constants  # private, but stable in CPython 3.11-3.13
from re import _parser as sre_parser
from typing import Any

from pydantic_core import PydanticCustomError

MAX_PATTERN_LENGTH = 256
MAX_UNBOUNDED_REPEATS = 4
MAX_NESTED_REPEAT_PRODUCT = 1000
_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT}
_UNBOUNDED = float("inf")


@dataclass
class PatternShape:
    repeats: int = 0
    unbounded: int = 0


def check_pattern(pattern: str) -> str:
    """Return ``pattern`` if it is a regular expression safe to run; raise ``PydanticCustomError``.

    Rejected: more than 256 characters, syntax errors, backreferences, a repeat inside another
    repeat unless both are bounded and small (``(a+)+``, ``(.*)*``, ``(a{1,9}){1,999}``), an
    alternation under an unbounded repeat (``(a|aa)+``), and more than four unbounded repeats.
    These are the shapes that make backtracking exponential or of high polynomial degree.
    ``filter_lines`` still runs the pattern under a time budget.
    """
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PydanticCustomError("pattern_too_long", "pattern too long", {"max": MAX_PATTERN_LENGTH})
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in pattern):
        raise PydanticCustomError("pattern_invalid", "pattern contains a control character")
    try:
        parsed = sre_parser.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        raise PydanticCustomError("pattern_invalid", "pattern does not compile") from None

    shape = PatternShape()
    _inspect(parsed, None, shape)
    if shape.unbounded > MAX_UNBOUNDED_REPEATS:
        raise PydanticCustomError("pattern_too_complex", "too many unbounded repeats", {"max": MAX_UNBOUNDED_REPEATS})
    return pattern


def pattern_shape(pattern: str) -> PatternShape:
    shape = PatternShape()
    _inspect(sre_parser.parse(pattern), None, shape)
    return shape


def _inspect(items: Any, enclosing: float | None, shape: PatternShape) -> None:
    """Walk the parsed pattern; ``enclosing`` is the product of the maxima of the enclosing repeats."""
    for op, value in items:
        if op in (sre_constants.GROUPREF, sre_constants.GROUPREF_EXISTS):
            raise PydanticCustomError("pattern_backreference", "backreferences are not allowed")
        if op in _REPEATS:
            _inspect_repeat(value, enclosing, shape)
        elif op == sre_constants.SUBPATTERN:
            _inspect(value[-1], enclosing, shape)
        elif op == sre_constants.BRANCH:
            for branch in value[1]:
                _inspect(branch, enclosing, shape)
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            _inspect(value[1], enclosing, shape)
        elif op == sre_constants.ATOMIC_GROUP:
            _inspect(value, enclosing, shape)


def _inspect_repeat(value: Any, enclosing: float | None, shape: PatternShape) -> None:
    _low, high, body = value
    maximum = _UNBOUNDED if high == sre_constants.MAXREPEAT else high
    shape.repeats += 1
    if maximum <= 1:
        _inspect(body, enclosing, shape)
        return

    if enclosing is not None and (
        maximum == _UNBOUNDED or enclosing == _UNBOUNDED or enclosing * maximum > MAX_NESTED_REPEAT_PRODUCT
    ):
        raise PydanticCustomError("pattern_nested_quantifier", "nested quantifiers are not allowed")
    if maximum == _UNBOUNDED:
        shape.unbounded += 1
        if _contains_branch(body):
            raise PydanticCustomError("pattern_nested_quantifier", "alternation under a repeat is not allowed")
    _inspect(body, maximum if enclosing is None else enclosing * maximum, shape)


def _contains_branch(items: Any) -> bool:
    for op, value in items:
        if op == sre_constants.BRANCH:
            return True
        if op == sre_constants.SUBPATTERN and _contains_branch(value[-1]):
            return True
    return False
