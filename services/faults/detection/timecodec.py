"""Compact JSON values for the datetimes of the saved window state.

A UTC time is an integer: microseconds since 1970-01-01T00:00:00Z. A time with another
offset is ``[microseconds, offset_seconds]`` and a naive one ``[microseconds, null]``,
counted from the naive 1970-01-01. Decoding gives back an equal datetime with the same
offset, so texts built from a restored time (``isoformat``) match the original.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NAIVE_EPOCH = datetime(1970, 1, 1)
MICROSECOND = timedelta(microseconds=1)

EncodedTime = int | list[int | None]


def encode_time(moment: datetime | None) -> EncodedTime | None:
    """Return the JSON value of ``moment`` (None stays None)."""
    if moment is None:
        return None
    if moment.tzinfo is UTC:  # the usual case, checked first because this runs for every saved time
        return (moment - EPOCH) // MICROSECOND
    offset = moment.utcoffset()
    if offset is None:
        return [(moment - NAIVE_EPOCH) // MICROSECOND, None]
    micros = (moment - EPOCH) // MICROSECOND
    if not offset:
        return micros
    return [micros, offset // timedelta(seconds=1)]


def decode_time(value: EncodedTime | None) -> datetime | None:
    """Return the datetime that :func:`encode_time` encoded; raise ValueError or TypeError on other values."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"invalid encoded time {value!r}")
    if isinstance(value, int):
        return EPOCH + value * MICROSECOND
    micros, offset_seconds = value
    if not isinstance(micros, int) or isinstance(micros, bool):
        raise TypeError(f"invalid encoded time {value!r}")
    if offset_seconds is None:
        return NAIVE_EPOCH + micros * MICROSECOND
    zone = timezone(timedelta(seconds=int(offset_seconds)))
    return (EPOCH + micros * MICROSECOND).astimezone(zone)
