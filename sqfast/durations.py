"""Run durations written with units: `90s`, `30m`, `8h`, `2d`, or combined largest first: `1h30m`.

A bare number is refused rather than guessed at: the earlier versions of this tool read
`--duration 30` as minutes, so `30` is ambiguous.
"""

import re

UNITS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", re.ASCII)
EXAMPLES = "e.g. 90s, 30m, 8h, 2d or 1h30m"


def parse_duration(text: str) -> int:
    """Seconds in a duration such as `90s`, `30m`, `8h`, `2d` or `1h30m`; ValueError if malformed."""
    cleaned = text.strip()
    match = _DURATION.fullmatch(cleaned)
    if not cleaned or match is None:
        raise ValueError(f"malformed duration {text!r}: {_why(cleaned)}; {EXAMPLES}")
    seconds = sum(int(count) * UNITS[unit]
                  for count, unit in zip(match.groups(), UNITS, strict=True) if count)
    if seconds <= 0:
        raise ValueError(f"duration {text!r} is zero; give a positive duration, {EXAMPLES}")
    return seconds


def format_duration(seconds: int) -> str:
    """The shortest spelling of `seconds` that `parse_duration` reads back: 5400 -> `1h30m`."""
    if seconds <= 0:
        raise ValueError(f"a duration is positive, got {seconds}")
    parts = []
    for unit, size in UNITS.items():
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _why(text: str) -> str:
    if not text:
        return "it is empty"
    if text.isdigit():
        return "a number needs a unit (s, m, h or d)"
    if re.search(r"[A-Z]", text):
        return "units are lower-case s, m, h, d"
    if re.search(r"\s", text):
        return "write it without spaces"
    if re.fullmatch(r"(\d+[dhms])+", text):
        return "put each unit once, largest first"
    return "expected whole numbers with units s, m, h or d"
