"""Timezone-aware time helpers."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def humanize_age(moment: datetime | None, lang: str = "zh", now: datetime | None = None) -> str:
    """Describe how long ago ``moment`` was, as "10分钟前" or "10 minutes ago"."""
    if moment is None:
        return "从未" if lang == "zh" else "never"
    seconds = max(0, int(((now or utcnow()) - moment).total_seconds()))
    for size, zh_unit, en_unit in ((86400, "天", "day"), (3600, "小时", "hour"), (60, "分钟", "minute")):
        if seconds >= size:
            count = seconds // size
            if lang == "zh":
                return f"{count}{zh_unit}前"
            return f"{count} {en_unit}{'s' if count != 1 else ''} ago"
    return "刚刚" if lang == "zh" else "just now"
