"""Drain-style log template mining with state that survives restarts.

The algorithm follows Drain (He et al., "Drain: An Online Log Parsing Approach with Fixed
Depth Tree", ICWS 2017): variable parts are masked first, messages are routed through a
tree keyed by token count and the first tokens, and a message joins the most similar
template in its leaf when enough tokens agree; differing tokens become ``<*>``.

The engine mines ERROR and FATAL records that match no catalog kind, so each unknown error
gets a stable template id. :meth:`TemplateMiner.to_bytes` and :meth:`TemplateMiner.from_bytes`
save and restore the templates as JSON.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

WILDCARD = "<*>"
STATE_VERSION = 1

# Variable parts of Hadoop messages, masked before mining. The order matters: longer
# identifiers go first so that their numbers are not masked piecemeal.
_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(?:application|appattempt|container|attempt|job|task|jvm)(?:_e?\d+)+(?:_[mr](?:_\d+)+)?\b"),
     WILDCARD),
    (re.compile(r"\bblk_-?\d+(?:_\d+)?\b"), WILDCARD),
    (re.compile(r"\bBP-\d+-[\d.]+-\d+\b"), WILDCARD),
    (re.compile(r"/?\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), WILDCARD),
    (re.compile(r"\b[\w.-]+:\d{2,5}\b"), WILDCARD),
    (re.compile(r"\b0x[0-9a-fA-F]+\b|\b[0-9a-f]{8,}\b"), WILDCARD),
    (re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:ms|s|MB|GB|KB|B|%)?(?![\w.])"), WILDCARD),
)
_SPLIT_RE = re.compile(r"[\s=,;]+")


def mask_message(message: str) -> str:
    """Replace identifiers, addresses and numbers in ``message`` with ``<*>``."""
    for pattern, replacement in _MASKS:
        message = pattern.sub(replacement, message)
    return message


def tokenize(message: str) -> list[str]:
    """Split a masked message into tokens."""
    return [token for token in _SPLIT_RE.split(message) if token]


@dataclass(slots=True)
class Template:
    """A mined template: its id, tokens (``<*>`` for variables) and how many messages it covers."""

    template_id: int
    tokens: list[str]
    size: int = 1

    @property
    def text(self) -> str:
        """The template as one string."""
        return " ".join(self.tokens)


@dataclass(frozen=True, slots=True)
class MinedTemplate:
    """The outcome of adding one message: its template and whether the template is new."""

    template_id: int
    template: str
    is_new: bool


class TemplateMiner:
    """Online Drain template miner.

    ``depth`` counts the root and the length level, so ``depth - 2`` leading tokens route a
    message. ``similarity`` is the share of equal tokens a message needs to join a template.
    """

    def __init__(
        self, *, depth: int = 4, similarity: float = 0.5, max_children: int = 100, max_templates: int = 50_000
    ) -> None:
        if depth < 3:
            raise ValueError(f"depth must be at least 3, got {depth}")
        if not 0.0 < similarity <= 1.0:
            raise ValueError(f"similarity must be in (0, 1], got {similarity}")
        self.depth = depth
        self.similarity = similarity
        self.max_children = max_children
        self.max_templates = max_templates
        self._templates: dict[int, Template] = {}
        self._tree: dict[int, dict] = {}
        # Messages added since construction; while it stays the same, to_bytes() returns the same bytes.
        self.revision = 0

    def __len__(self) -> int:
        return len(self._templates)

    def templates(self) -> list[Template]:
        """Return every template, in the order they were first seen."""
        return list(self._templates.values())

    def add(self, message: str) -> MinedTemplate:
        """Mine ``message`` and return the template it belongs to."""
        self.revision += 1
        tokens = tokenize(mask_message(message))
        leaf = self._leaf(tokens, create=True)
        best = self._best_match(leaf, tokens)

        if best is not None:
            best.size += 1
            best.tokens = [a if a == b else WILDCARD for a, b in zip(best.tokens, tokens, strict=True)]
            return MinedTemplate(best.template_id, best.text, False)

        if len(self._templates) >= self.max_templates:
            # NOTE: past the limit new messages share template 0 rather than growing memory.
            return MinedTemplate(0, WILDCARD, False)
        template = Template(len(self._templates) + 1, tokens)
        self._templates[template.template_id] = template
        leaf.append(template.template_id)
        return MinedTemplate(template.template_id, template.text, True)

    def match(self, message: str) -> int | None:
        """Return the id of the template ``message`` belongs to, without learning from it."""
        tokens = tokenize(mask_message(message))
        leaf = self._leaf(tokens, create=False)
        best = self._best_match(leaf, tokens) if leaf is not None else None
        return best.template_id if best is not None else None

    def _leaf(self, tokens: list[str], *, create: bool) -> list[int] | None:
        node = self._tree.get(len(tokens))
        if node is None:
            if not create:
                return None
            node = self._tree[len(tokens)] = {}

        for token in tokens[: self.depth - 2]:
            key = WILDCARD if any(char.isdigit() for char in token) else token
            child = node.get(key)
            if child is None and not create:
                child = node.get(WILDCARD)
                if child is None:
                    return None
            elif child is None and len(node) < self.max_children:
                child = node[key] = {}
            elif child is None:
                child = node.setdefault(WILDCARD, {})
            node = child

        if create:
            return node.setdefault("", [])  # type: ignore[return-value]
        return node.get("")  # type: ignore[return-value]

    def _best_match(self, leaf: list[int] | None, tokens: list[str]) -> Template | None:
        best, best_score, best_wildcards = None, -1.0, -1
        for template_id in leaf or ():
            template = self._templates[template_id]
            equal = wildcards = 0
            for a, b in zip(template.tokens, tokens, strict=True):
                if a == WILDCARD:
                    wildcards += 1
                elif a == b:
                    equal += 1
            score = equal / len(tokens) if tokens else 1.0
            if score > best_score or (score == best_score and wildcards > best_wildcards):
                best, best_score, best_wildcards = template, score, wildcards
        if best is not None and best_score >= self.similarity:
            return best
        return None

    def to_bytes(self) -> bytes:
        """Serialise the templates and settings as UTF-8 JSON."""
        state = {
            "version": STATE_VERSION,
            "depth": self.depth,
            "similarity": self.similarity,
            "max_children": self.max_children,
            "max_templates": self.max_templates,
            "templates": [[t.template_id, t.tokens, t.size] for t in self._templates.values()],
        }
        return json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> TemplateMiner:
        """Restore a miner saved by :meth:`to_bytes`; raise ValueError when ``data`` is not such a state."""
        try:
            state = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"template state is not valid JSON: {error}") from error
        version = state.get("version") if isinstance(state, dict) else None
        if version != STATE_VERSION:
            raise ValueError(f"template state version {version!r} is not supported; expected {STATE_VERSION}")

        miner = cls(
            depth=state["depth"], similarity=state["similarity"],
            max_children=state["max_children"], max_templates=state["max_templates"],
        )
        for template_id, tokens, size in state["templates"]:
            template = Template(int(template_id), [str(token) for token in tokens], int(size))
            miner._templates[template.template_id] = template
            leaf = miner._leaf(template.tokens, create=True)
            assert leaf is not None
            leaf.append(template.template_id)
        return miner
