"""Recurring-run triggers checked locally: KFP's 6-field cron expressions and `--every` durations.

Kubeflow Pipelines parses cron with robfig/cron: `second minute hour day-of-month month
day-of-week`, each field `*`, `?` (day fields only), a value, a range `a-b`, a step `/n`,
or a comma-separated list of those; months and weekdays also by name (JAN, MON).
"""

from __future__ import annotations

import re

_FIELDS = (
    ("second", 0, 59, ()),
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")),
    ("day-of-week", 0, 6, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
)
_DAY_FIELDS = {"day-of-month", "day-of-week"}
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
MIN_INTERVAL_SECONDS = 60


def _value(text: str, low: int, names: tuple[str, ...]) -> int:
    upper = text.upper()
    if upper in names:
        return names.index(upper) + (1 if low == 1 else 0)
    if not text.isdigit():
        raise ValueError(f"{text!r} is not a number")
    return int(text)


def _check_part(part: str, name: str, low: int, high: int, names: tuple[str, ...]) -> None:
    span, _, step = part.partition("/")
    if step and (not step.isdigit() or int(step) == 0):
        raise ValueError(f"step {step!r} must be a positive number")
    if span in ("*", "?"):
        if span == "?" and name not in _DAY_FIELDS:
            raise ValueError("'?' is only allowed in day-of-month and day-of-week")
        return
    first, _, last = span.partition("-")
    start = _value(first, low, names)
    end = _value(last, low, names) if last else start
    for number in (start, end):
        if not low <= number <= high:
            raise ValueError(f"{number} is outside {low}-{high}")
    if end < start:
        raise ValueError(f"range {span!r} runs backwards")


def check_cron(expression: str) -> str:
    """The expression, normalized to single spaces; raises ValueError naming the bad field."""
    fields = expression.split()
    if len(fields) != len(_FIELDS):
        raise ValueError(
            f"cron {expression!r} has {len(fields)} fields; Kubeflow Pipelines needs 6: "
            "second minute hour day-of-month month day-of-week (e.g. '0 0 3 * * *' daily at 03:00)"
        )
    for text, (name, low, high, names) in zip(fields, _FIELDS):
        for part in text.split(","):
            try:
                _check_part(part, name, low, high, names)
            except ValueError as error:
                raise ValueError(f"cron {expression!r}: {name} field {text!r}: {error}") from None
    return " ".join(fields)


def duration_seconds(text: str) -> int:
    """Seconds in a duration such as `30m`, `6h`, `1d12h`; raises ValueError below one minute or when malformed."""
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"duration {text!r}: use a number with units d, h, m, s, largest first (e.g. 30m, 6h, 1d12h)")
    days, hours, minutes, seconds = (int(group or 0) for group in match.groups())
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if total < MIN_INTERVAL_SECONDS:
        raise ValueError(f"duration {text!r}: the interval must be at least {MIN_INTERVAL_SECONDS}s")
    return total
