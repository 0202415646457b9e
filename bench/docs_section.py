"""Replace one ``## `` section of a Markdown file, keeping the other sections as they are."""

from __future__ import annotations

from pathlib import Path


def replace_section(path: Path, heading: str, body: str, *, title: str) -> None:
    """Write ``body`` under ``## heading`` in ``path``, creating the file with ``# title`` if needed.

    Only the named section changes, so several scripts (and people) can share one file.
    """
    text = path.read_text(encoding="utf-8") if path.exists() else f"# {title}\n"
    lines = text.splitlines()
    marker = f"## {heading}"

    start = next((i for i, line in enumerate(lines) if line.strip() == marker), None)
    new_section = [marker, "", *body.rstrip("\n").splitlines(), ""]
    if start is None:
        if lines and lines[-1].strip():
            lines.append("")
        lines.extend(new_section)
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines[start:end] = new_section

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines).rstrip("\n") + "\n", encoding="utf-8")
