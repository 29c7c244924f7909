"""Lenient answer parsing for external benchmarks (multiple choice, temporal grounding).

The training rewards insist on the exact asked format; free-form evaluation answers do not follow
it ("The answer is (B).", "from 1:02 to 1:30"). These parsers find the answer in such text and
return None when there is none, so an unparsable answer counts as wrong instead of crashing or
being dropped.

>>> parse_option_letter("The answer is (B).", "ABCD")
'B'
>>> parse_time_span("The event happens in the 24.3 - 30.4 seonds.")
(24.3, 30.4)
>>> parse_time_span("from 1:02 to 1:30")
(62.0, 90.0)
"""

from __future__ import annotations

import math
import re

_LETTER_PATTERNS = (
    r"^\s*\(?([A-Z])\)?(?:[.:)\s]|$)",  # "B", "B.", "(B)", "B) text", "B: text"
    r"(?i:answer|option|choice)\s*(?i:is|:)?\s*\(?([A-Z])\)?(?![A-Za-z])",  # "the answer is (B)"
    r"\(([A-Z])\)",  # "(B)" anywhere
)

_TIME = r"(\d+(?::\d{1,2}){0,2}(?:\.\d+)?)"
_SPAN = re.compile(r"(?<![\d.:])" + _TIME + r"\s*(?:s|sec|secs|seconds?)?\s*(?:-|–|—|~|to|and|until)\s*" + _TIME)


def parse_option_letter(response: str, valid_letters: str = "ABCDEFGHIJ") -> str | None:
    """The chosen option letter, if the response names exactly one of ``valid_letters`` clearly."""
    if not isinstance(response, str):
        return None
    text = response.strip()
    for pattern in _LETTER_PATTERNS:
        match = re.search(pattern, text)
        if match and match.group(1) in valid_letters:
            return match.group(1)
    return None


def parse_clock(text: str) -> float | None:
    """Seconds of ``"75"``, ``"75.5"``, ``"1:15"``, ``"01:01:15.5"``; None if malformed or not finite."""
    parts = text.split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        return None
    if len(values) > 3 or not all(math.isfinite(v) and v >= 0 for v in values) or any(v >= 60 for v in values[1:]):
        return None
    seconds = 0.0
    for value in values:
        seconds = seconds * 60 + value
    return seconds


def parse_time_span(response: str) -> tuple[float, float] | None:
    """The first ``start <sep> end`` span in the text, in seconds, ordered (reversed spans swapped)."""
    if not isinstance(response, str):
        return None
    for match in _SPAN.finditer(response):
        start, end = parse_clock(match.group(1)), parse_clock(match.group(2))
        if start is not None and end is not None:
            return (start, end) if start <= end else (end, start)
    return None
