"""Catalog signature matching on log records.

Every record costs one Aho-Corasick scan (the ``ahocorasick-rs`` package, or a trie-shaped
regex when it is not installed) for the literals that the catalog's patterns require (see
``literals.py``). A record without any of them, which is most INFO records, is done after
that scan. For the rest, only the patterns whose literals
were found run, then each kind's exclude patterns and levels filter the matches. Matches
come back ordered from the most specific kind (highest priority) to the least.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from libs.common.catalog import Catalog, FaultKind, PatternSpec
from services.faults.detection.literals import overlap_closure, required_literals, trie_regex

try:
    import ahocorasick_rs
except ImportError:  # pragma: no cover - the package is a declared dependency
    ahocorasick_rs = None

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SignatureMatch:
    """One catalog pattern that matched a record."""

    kind: FaultKind
    pattern: PatternSpec
    pattern_id: int


@dataclass(slots=True)
class _CompiledPattern:
    pattern_id: int
    kind: FaultKind
    spec: PatternSpec
    regex: re.Pattern[str]


class Matcher:
    """Matches record texts against every pattern of a catalog."""

    def __init__(self, catalog: Catalog, *, extra_literals: tuple[str, ...] = ()) -> None:
        """Compile ``catalog``; ``extra_literals`` are reported by :meth:`find_literals` for the caller's rules."""
        self._patterns: list[_CompiledPattern] = []
        self._excludes: dict[str, re.Pattern[str]] = {}
        self._levels: dict[str, frozenset[str]] = {}
        self._order: dict[str, int] = {}

        literal_patterns: dict[str, list[int]] = {}
        self._always: list[int] = []
        self._keys: list[str] = []
        self._ids_by_key: dict[str, int] = {}

        for order, kind in enumerate(catalog):
            self._order[kind.kind] = order
            if kind.exclude_patterns:
                self._excludes[kind.kind] = re.compile("|".join(f"(?:{p})" for p in kind.exclude_patterns))
            if kind.levels:
                self._levels[kind.kind] = frozenset(kind.levels)

            for spec in kind.patterns:
                pattern_id = len(self._patterns)
                self._patterns.append(_CompiledPattern(pattern_id, kind, spec, re.compile(spec.regex)))
                self._keys.append(_pattern_key(kind.kind, spec.regex))
                self._ids_by_key.setdefault(self._keys[-1], pattern_id)
                literals = required_literals(spec.regex)
                if literals is None:
                    self._always.append(pattern_id)
                    logger.warning(
                        "pattern %r of kind %s has no required literal; it runs on every record",
                        spec.regex, kind.kind,
                    )
                    continue
                for literal in literals:
                    literal_patterns.setdefault(literal, []).append(pattern_id)

        for literal in extra_literals:
            literal_patterns.setdefault(literal, [])
        words = sorted(literal_patterns)
        self._candidates: dict[str, tuple[int, ...]] = {word: tuple(literal_patterns[word]) for word in words}

        if ahocorasick_rs is not None:
            automaton = ahocorasick_rs.AhoCorasick(words)
            self._scan = lambda text: automaton.find_matches_as_strings(text, overlapping=True)
        else:
            self._scan = self._trie_scanner(words)
        logger.debug("matcher compiled %d patterns, %d literals", len(self._patterns), len(words))

    @staticmethod
    def _trie_scanner(words: list[str]) -> Callable[[str], list[str]]:
        # A regex scan finds non-overlapping matches only, so each found literal also
        # stands for the literals it could hide (see overlap_closure).
        trie = trie_regex(words)
        closure = overlap_closure(words)

        def scan(text: str) -> list[str]:
            return [hidden for word in set(trie.findall(text)) for hidden in closure[word]]

        return scan

    @property
    def pattern_count(self) -> int:
        """Number of compiled catalog patterns."""
        return len(self._patterns)

    def pattern_key(self, pattern_id: int) -> str:
        """Return a name of the pattern that stays valid when the catalog gains or reorders patterns."""
        return self._keys[pattern_id]

    def pattern_of_key(self, key: str) -> tuple[int, PatternSpec] | None:
        """Return the id and spec of the pattern named ``key`` by :meth:`pattern_key`, or None when gone."""
        pattern_id = self._ids_by_key.get(key)
        if pattern_id is None:
            return None
        return pattern_id, self._patterns[pattern_id].spec

    def find_literals(self, text: str) -> list[str]:
        """Return the required literals (and extra literals) that occur in ``text``; cheap."""
        return self._scan(text)

    def candidates(self, text: str, literals: list[str] | None = None) -> set[int]:
        """Return the ids of the patterns that may match ``text``, given the literals found in it."""
        found = self._scan(text) if literals is None else literals
        if not found and not self._always:
            return set()
        ids: set[int] = set(self._always)
        for word in found:
            ids.update(self._candidates[word])
        return ids

    def match(self, text: str, level: str | None = None) -> list[SignatureMatch]:
        """Return the patterns that match ``text``, one per kind, most specific kind first."""
        ids = self.candidates(text)
        if not ids:
            return []

        by_kind: dict[str, SignatureMatch] = {}
        for pattern_id in sorted(ids):
            compiled = self._patterns[pattern_id]
            name = compiled.kind.kind
            if name in by_kind or not compiled.regex.search(text):
                continue
            by_kind[name] = SignatureMatch(compiled.kind, compiled.spec, pattern_id)

        matches = [m for m in by_kind.values() if self._allowed(m.kind, text, level)]
        matches.sort(key=lambda m: (-m.kind.priority, self._order[m.kind.kind]))
        return matches

    def match_all_patterns(
        self, text: str, level: str | None = None, literals: list[str] | None = None
    ) -> list[SignatureMatch]:
        """Return every matching pattern, several per kind if so, most specific kind first.

        ``literals`` is the output of :meth:`find_literals` for ``text`` when the caller has it.
        """
        ids = self.candidates(text, literals)
        if not ids:
            return []
        matches = [
            SignatureMatch(self._patterns[pid].kind, self._patterns[pid].spec, pid)
            for pid in sorted(ids)
            if self._patterns[pid].regex.search(text)
        ]
        matches = [m for m in matches if self._allowed(m.kind, text, level)]
        matches.sort(key=lambda m: (-m.kind.priority, self._order[m.kind.kind], m.pattern_id))
        return matches

    def _allowed(self, kind: FaultKind, text: str, level: str | None) -> bool:
        levels = self._levels.get(kind.kind)
        if levels is not None and level is not None and level not in levels:
            return False
        exclude = self._excludes.get(kind.kind)
        return exclude is None or exclude.search(text) is None

    def excluded(self, kind_name: str, text: str) -> bool:
        """Return True when ``text`` matches an exclude pattern of the kind ``kind_name``."""
        exclude = self._excludes.get(kind_name)
        return exclude is not None and exclude.search(text) is not None


def _pattern_key(kind: str, regex: str) -> str:
    """Return the kind and the first 12 hex digits of the SHA-256 of the regex, short for the saved state."""
    return f"{kind}:{hashlib.sha256(regex.encode()).hexdigest()[:12]}"
