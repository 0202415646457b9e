"""Required literals of regular expressions, and a trie-shaped regex that finds them fast.

The matcher screens every record with one scan for literals that the catalog's patterns
require, so the full patterns run only on the few records that contain one of them.
"""

from __future__ import annotations

import re
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parser  # type: ignore[attr-defined]

MIN_LITERAL_LENGTH = 3

_LITERAL = sre_constants.LITERAL
_SUBPATTERN = sre_constants.SUBPATTERN
_BRANCH = sre_constants.BRANCH
_MAX_REPEAT = sre_constants.MAX_REPEAT
_MIN_REPEAT = sre_constants.MIN_REPEAT
_POSSESSIVE_REPEAT = getattr(sre_constants, "POSSESSIVE_REPEAT", None)
_ATOMIC_GROUP = getattr(sre_constants, "ATOMIC_GROUP", None)


def required_literals(pattern: str) -> list[str] | None:
    """Return literals of which every match of ``pattern`` contains at least one, or None.

    None means no literal of at least ``MIN_LITERAL_LENGTH`` characters is required (or the
    pattern ignores case), so the pattern must run on every record.
    """
    parsed = sre_parser.parse(pattern)
    if parsed.state.flags & re.IGNORECASE:
        return None
    return _from_sequence(list(parsed))


def _score(options: list[str] | None) -> int:
    return min((len(option) for option in options), default=0) if options else 0


def _from_sequence(items: list[tuple[object, object]]) -> list[str] | None:
    best: list[str] | None = None
    run: list[str] = []

    def close_run() -> None:
        nonlocal best
        if run and len(run) >= _score(best):
            best = ["".join(run)]
        run.clear()

    for op, argument in items:
        if op is _LITERAL:
            run.append(chr(argument))  # type: ignore[arg-type]
            continue
        close_run()
        options = _from_item(op, argument)
        if options and _score(options) > _score(best):
            best = options
    close_run()

    return best if _score(best) >= MIN_LITERAL_LENGTH else None


def _from_item(op: object, argument: object) -> list[str] | None:
    if op is _SUBPATTERN:
        flags_on = argument[1]  # type: ignore[index]
        if flags_on & re.IGNORECASE:
            return None
        return _from_sequence(list(argument[3]))  # type: ignore[index]

    if op is _ATOMIC_GROUP and _ATOMIC_GROUP is not None:
        return _from_sequence(list(argument))  # type: ignore[arg-type]

    if op in (_MAX_REPEAT, _MIN_REPEAT, _POSSESSIVE_REPEAT) and op is not None:
        minimum, _maximum, body = argument  # type: ignore[misc]
        return _from_sequence(list(body)) if minimum >= 1 else None

    if op is _BRANCH:
        options: list[str] = []
        for alternative in argument[1]:  # type: ignore[index]
            found = _from_sequence(list(alternative))
            if not found:
                return None
            options.extend(found)
        return options
    return None


def trie_regex(words: list[str]) -> re.Pattern[str]:
    """Compile a regex that matches any of ``words``, shaped as a trie so each position costs one branch."""
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    return re.compile(_trie_to_regex(trie) or "(?!)")


def _trie_to_regex(node: dict[str, dict]) -> str:
    ends_here = "" in node
    branches = [re.escape(char) + _trie_to_regex(child) for char, child in sorted(node.items()) if char]
    if not branches:
        return ""

    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if ends_here:
        # Longer words first: the optional group is greedy, so a longer literal wins.
        return f"(?:{body})?"
    return body


def overlap_closure(words: list[str]) -> dict[str, frozenset[str]]:
    """Map each word to the words a non-overlapping scan could hide behind it.

    A scan that finds ``word`` may skip another word that is inside it or that starts in it
    and runs past its end. The closure lists those, plus ``word`` itself.
    """
    closure: dict[str, frozenset[str]] = {}
    for word in words:
        hidden = {word}
        for other in words:
            if other in word or any(other.startswith(word[start:]) for start in range(len(word))):
                hidden.add(other)
        closure[word] = frozenset(hidden)
    return closure
