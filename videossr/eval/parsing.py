"""Answer parsing for external benchmarks: the option letter and the time span a model answered.

Free-form answers do not follow one format: ``**C. cooking**``, ``The correct answer is: C``,
``<answer>C</answer>``, ``It starts at 24.3 seconds and ends at 30.4 seconds.``, ``[24.3, 30.4]``.
These parsers look for the *final* answer first and return None when there is none, so an
unparsable answer counts as wrong (and is reported) instead of crashing or being dropped. They
never raise on any string, whatever its length (digit runs of thousands of characters included).

Where the answer is looked for (:func:`answer_region`): the last ``<answer>…</answer>`` block if
there is one (our training format); else the text after the last ``</think>``; else the whole text
with ``<think>…</think>`` blocks removed. Letters or numbers inside the reasoning never win over
the final answer.

>>> parse_option_letter("<think>(A) is unlikely.</think><answer>(C)</answer>", "ABCD")
'C'
>>> parse_option_letter("So the best option is:\\n\\n**C. growing** ... eliminates option D as well.", "ABCD")
'C'
>>> parse_time_span("The event starts at 00:00:24 and ends at 00:00:30.")
(24.0, 30.0)
>>> parse_time_span("The person sits down at 5 and 2 people walk in at 9.") is None
True

This module must not change the training rewards: ``videossr/rewards`` keeps its exact released
formats; only evaluation uses these parsers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

ALL_LETTERS = "ABCDEFGHIJ"

_ANSWER_BLOCK = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.S | re.I)
_THINK_BLOCK = re.compile(r"<think>.*?(?:</think>|$)", re.S | re.I)
_THINK_END = re.compile(r"</think>", re.I)
# Markdown emphasis and code marks carry no meaning for the answer ("**C. cooking**", "`B`").
_MARKDOWN = re.compile(r"[*_`#]+")


def answer_region(response: str) -> str:
    """The part of ``response`` that holds the final answer (see the module docstring); may be ''."""
    blocks = _ANSWER_BLOCK.findall(response)
    if blocks:
        return blocks[-1].strip()
    ends = list(_THINK_END.finditer(response))
    if ends:
        after = response[ends[-1].end() :].strip()
        if after:
            return after
    return _THINK_BLOCK.sub(" ", response).strip()


# ---------------------------------------------------------------------------------------------
# Multiple choice
# ---------------------------------------------------------------------------------------------

# The whole answer is a letter, maybe with its text: "C", "C.", "(C)", "[C]", "C) x", "C: x", "C. x".
_LEADING_LETTER = re.compile(
    r"^[\s\"'(\[{]*([A-Z])(?:\s*$|[ \t]*\n|[.:)\]}](?!\w)"
    r"|[)\]}]?\s+is\s+(?:the\s+)?(?:correct|right|best|answer)\b)"  # "B is the correct answer."
)
# The whole answer is one lowercase letter ("c", "(c)."): a letter, as no word is that short but "a".
_LONE_LOWER = re.compile(r"^[\s\"'(\[{]*([a-j])[)\]}.]*\s*$")
# A stated choice: "answer is C", "correct answer is: (C)", "best option is:\n\nC.", "Answer: C",
# "I choose D", "I'd go with B", "which is option C", "Option C: they ...", "the best options are B.
# x and D. y" (the first of several), "The correct order ... is A.". A bare mention ("eliminates
# option D") is not a statement.
_STATEMENT = re.compile(
    r"(?i:\b(?:answer|option|choice)[\"']?\s*(?:is|would\s+be|should\s+be|will\s+be|=|:|：)"
    r"|\b(?:answer|option|choice)\s+[(\[]?(?=[A-Z][)\]]?\s+is\s+(?:the\s+)?(?:correct|right|best)\b)"
    r"|\bis\s+(?:option|choice)\b"
    r"|^[ \t]*(?:option|choice)\b(?=\s+[(\[]?[A-Z][)\]]?\s*[:：])"
    r"|\b(?:best|correct|right)\s+(?:answers|options|choices)\s+(?:are|would\s+be)"
    r"|\b(?:best|correct|right)\b[^.!?\n]{0,80}?\bis(?=\s+[A-Z](?:\s*[.,;:!)\]]|\s*$))"
    r"|\b(?:i\s+(?:would\s+|will\s+|'d\s+|'ll\s+)?(?:choose|chose|select|pick|go\s+with))"
    r"|\b(?:choose|select|pick))"
    r"[\s:\"'(\[{]*"
    r"([A-Z])(?![A-Za-z0-9'])",
    re.M,
)
_BRACKETED = re.compile(r"[(\[]([A-Z])[)\]]")
# A letter alone at the end of the answer's last line: "..., so it is C." / "Therefore: D"
_CONCLUDING = re.compile(r"(?<![A-Za-z'])([A-Z])[\s.)\]!]*$")
_WORDS = re.compile(r"[^\w]+")
# Articles and possessives carry no choice: "drawing a sword from its sheath" names the option
# "drawing sword from sheath", "diving into the water" names "diving into water".
_FILLER = re.compile(r"(?<!\S)(?:a|an|the|its|his|her|their)(?!\S)")


def _normalize(text: str) -> str:
    return _WORDS.sub(" ", text.lower()).strip()


def _normalize_option_text(text: str) -> str:
    return " ".join(_FILLER.sub(" ", _normalize(text)).split())


def parse_option_letter(
    response: str, valid_letters: str = ALL_LETTERS, options: Mapping[str, str] | None = None
) -> str | None:
    """The option letter a response chose, or None if it names none of ``valid_letters`` clearly.

    In the answer region (:func:`answer_region`, markdown removed), in order: the answer is a
    letter (``C``, ``(C)``, ``[C]``, ``C. cooking``); the last stated choice (``the answer is C``,
    ``I choose D``, ``best option is:\\n\\nC.``); the answer is, or contains exactly one of, the
    option texts in ``options`` (letter -> text); the last bracketed letter; a letter ending the
    last line. A letter outside ``valid_letters`` is no answer.

    >>> parse_option_letter("**B.**", "ABCD"), parse_option_letter("I choose D.", "ABCD")
    ('B', 'D')
    >>> parse_option_letter("cooking", "ABC", {"A": "sleeping", "B": "cooking", "C": "eating"})
    'B'
    """
    if not isinstance(response, str):
        return None
    region = _MARKDOWN.sub("", answer_region(response)).strip()
    if not region:
        return None
    match = _LEADING_LETTER.match(region)
    if match and match.group(1) in valid_letters:
        return match.group(1)
    match = _LONE_LOWER.match(region)
    if match and match.group(1) != "a" and match.group(1).upper() in valid_letters:
        return match.group(1).upper()
    stated = [m.group(1) for m in _STATEMENT.finditer(region) if m.group(1) in valid_letters]
    if stated:
        return stated[-1]
    if options:
        letter = _letter_of_option_text(region, options, valid_letters)
        if letter:
            return letter
    bracketed = [m for m in _BRACKETED.finditer(region) if m.group(1) in valid_letters]
    if bracketed:
        return _first_of_enumeration(region, bracketed[-1].start(1), valid_letters)
    lines = region.splitlines()
    last_line = lines[-1] if lines else region
    match = _CONCLUDING.search(last_line)
    # "A" and "I" ending a line are words far more often than answers ("... than I."), unless alone.
    if (
        match
        and match.group(1) in valid_letters
        and (match.group(1) not in "AI" or last_line.strip(" .)]!") == match.group(1))
    ):
        return _first_of_enumeration(region, len(region) - len(last_line) + match.start(1), valid_letters)
    return None


# Letters listed together: "B and C", "(B) or (C)", "B, C", "B/C". Named with no final-answer
# marker, the list is read as its first letter, as the released code and lmms-eval do.
_LISTED_LETTER = r"[(\[]?[A-J][)\]]?"
_ENUMERATION = re.compile(
    rf"(?<![A-Za-z0-9']){_LISTED_LETTER}"
    rf"(?:\s*(?:,\s*(?:and\s+|or\s+)?|\s(?:and|or)\s+|&\s*|/\s*){_LISTED_LETTER})+(?![A-Za-z0-9'])"
)


def _first_of_enumeration(region: str, position: int, valid_letters: str) -> str:
    """The letter at ``position``, or the first letter of the list of letters it ends ("B and C" -> B)."""
    for match in _ENUMERATION.finditer(region):
        if match.start() <= position < match.end():
            letters = [c for c in re.findall(r"[A-J]", match.group(0)) if c in valid_letters]
            if letters:
                return letters[0]
    return region[position]


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_NEGATION = re.compile(r"(?i)\b(?:not|no|neither|nor|never|none)\b|n't\b")
_LETTER_MARK = re.compile(r"(?<![A-Za-z])([A-J])[.):]\s*")


def _letter_of_option_text(region: str, options: Mapping[str, str], valid_letters: str) -> str | None:
    """The letter an answer names through option texts, or None.

    In order: the answer is one option's text; it writes exactly one letter followed by that
    letter's own text ("... is B. Swimming."); it contains exactly one option text; its first
    sentence does (long answers state the choice first, then discuss the other options) unless
    that sentence negates ("is not slow motion").
    """
    texts = {
        letter: _normalize_option_text(text)
        for letter, text in options.items()
        if letter in valid_letters and _normalize_option_text(text)
    }
    said = _normalize_option_text(region)
    exact = [letter for letter, text in texts.items() if text == said]
    if len(exact) == 1:
        return exact[0]
    marked = {
        m.group(1)
        for m in _LETTER_MARK.finditer(region)
        if m.group(1) in texts and f" {_normalize_option_text(region[m.end() :])} ".startswith(f" {texts[m.group(1)]} ")
    }
    if len(marked) == 1:
        return marked.pop()
    sentences = [part for part in _SENTENCE_END.split(region) if part.strip()]
    # An option text in a negated sentence ("There is no switching off or blinking") is ruled out, not chosen.
    affirmed = " ".join(_normalize_option_text(part) for part in sentences if not _NEGATION.search(part))
    found = _contained(affirmed, texts)
    if found:
        return found
    if sentences and not _NEGATION.search(sentences[0]):
        return _contained(_normalize_option_text(sentences[0]), texts)
    return None


def _contained(said: str, texts: Mapping[str, str]) -> str | None:
    padded = f" {said} "
    found = [letter for letter, text in texts.items() if f" {text} " in padded]
    # An option text inside another ("red" in "red car") is not a second answer: keep the longest.
    found = [a for a in found if not any(a != b and f" {texts[a]} " in f" {texts[b]} " for b in found)]
    return found[0] if len(found) == 1 else None


# ---------------------------------------------------------------------------------------------
# Options of a question
# ---------------------------------------------------------------------------------------------

_OPTION_LINE = re.compile(r"^[ \t]*(?:\(([A-J])\)|\[([A-J])\]|([A-J])[.):])[ \t]*(.*?)\s*$", re.M)
_OPTION_INLINE = re.compile(r"(?:(?<=\s)|^)(?:\(([A-J])\)|([A-J])[.):])(?=\s)")


def parse_options(question: str) -> dict[str, str]:
    """Options offered in a question, letter -> text, in order; {} when none are found.

    One per line (``A. x``, ``A) x``, ``(A) x``, ``[A] x``, ``A: x``), or written inline
    (``… A. sit B. stand C. jump``). Letters must run A, B, C, … without a gap, so a stray
    ``I.`` or ``C)`` in the question text is not an option.

    >>> parse_options("What? A. sit B. stand C. jump")
    {'A': 'sit', 'B': 'stand', 'C': 'jump'}
    """
    if not isinstance(question, str):
        return {}
    lines = [(next(g for g in m.groups()[:3] if g), m.group(4)) for m in _OPTION_LINE.finditer(question)]
    options = _consecutive_from_a(lines)
    if len(options) >= 2 or (options and not _OPTION_INLINE.search(question.split("\n", 1)[0])):
        return options
    markers = [(m.group(1) or m.group(2), m.start(), m.end()) for m in _OPTION_INLINE.finditer(question)]
    for first in (i for i, (letter, _, _) in enumerate(markers) if letter == "A"):
        run = [markers[first]]
        for marker in markers[first + 1 :]:
            if ord(marker[0]) == ord(run[-1][0]) + 1:
                run.append(marker)
        if len(run) >= 2:
            ends = [m[1] for m in run[1:]] + [len(question)]
            return {m[0]: question[m[2] : end].strip().rstrip(",;") for m, end in zip(run, ends)}
    return options


def _consecutive_from_a(pairs: list[tuple[str, str]]) -> dict[str, str]:
    options: dict[str, str] = {}
    for letter, text in pairs:
        if ord(letter) == ord("A") + len(options):
            options[letter] = text
        elif letter in options:
            continue  # a repeated marker further down (an echo of the options) is not a new one
    return options


# ---------------------------------------------------------------------------------------------
# Time spans
# ---------------------------------------------------------------------------------------------

# A time: seconds ("24.3"), mm:ss(.s) or hh:mm:ss(.s); never the middle of a longer number or
# version string ("1.2.3"), hence the look-around on both sides.
_TIME = r"(?<![\d.:])(\d+(?::\d{1,2}){0,2}(?:\.\d+)?)(?![\d:]|\.\d)"
_UNIT = r"(?:\s*(?:s|sec|secs|seconds?)\b)?"
_PLAIN_SPAN = re.compile(
    r"(?<!\d[-–—/,])(?<!\d\s[-–—]\s)"
    + _TIME
    + _UNIT
    + r"\s*(?:-->|->|→|-|–|—|~|\bto\b|\buntil\b|\btill\b|\bthrough\b)\s*"
    + _TIME
    + _UNIT
    + r"(?!\s*[-–—]\s*\d)"  # "2023-05-01": a chain of numbers is a date, not a span
)
# "between 3 and 5 seconds": "and" separates a span only after "between" (not "at 5 and 2 people").
_BETWEEN_SPAN = re.compile(r"(?i:\bbetween)\s+" + _TIME + _UNIT + r"\s+and\s+" + _TIME)
# "[24.3, 30.4]", "(24.3, 30.4)": two numbers in brackets.
_BRACKET_SPAN = re.compile(r"[\[(]\s*" + _TIME + _UNIT + r"\s*,\s*" + _TIME + _UNIT + r"\s*[\])]")
# "starts at X ... ends at Y", "Start time: X\nEnd time: Y", {"start": X, "end": Y}, start_time=X.
_KEYED_SPAN = re.compile(
    r"(?i:\b(?:start|begin)\w*)[^\d\n]{0,40}?"
    + _TIME
    + _UNIT
    + r"[^\d]{0,60}?(?i:\b(?:end|finish|stop)\w*)[^\d\n]{0,40}?"
    + _TIME
)
# Subtitle-style times ("00:00:24,300 --> 00:00:30,400") write milliseconds after a comma.
_SRT_MILLIS = re.compile(r"(?<=\d:\d\d),(?=\d{1,3}(?!\d))")
_SPAN_PATTERNS = (_KEYED_SPAN, _BETWEEN_SPAN, _BRACKET_SPAN, _PLAIN_SPAN)


def parse_clock(text: str) -> float | None:
    """Seconds of ``"75"``, ``"75.5"``, ``"1:15"``, ``"01:01:15.5"``; None if malformed or not finite.

    Minutes and seconds fields after a colon must be below 60; any digit count is accepted (a
    number too large for a float is None, never an error).
    """
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
    return seconds if math.isfinite(seconds) else None


def parse_time_span(response: str) -> tuple[float, float] | None:
    """The answered span ``(start_s, end_s)`` in seconds, ordered (a reversed span is swapped).

    Looked for in the answer region (:func:`answer_region`); the earliest span of any phrasing
    wins: ``24.3 - 30.4``, ``24.3 to 30.4 seconds``, ``from 1:02 to 1:30``, ``between 3 and 5``,
    ``[24.3, 30.4]``, ``starts at 00:00:24 and ends at 00:00:30``, ``Start time: 24.3s\\nEnd
    time: 30.4s``, ``{"start": 24.3, "end": 30.4}``. None for a single time, numbers joined by a
    plain "and", dates and version strings, or times too large for a float.

    >>> parse_time_span("<think>from 0.00 to 24.30 seconds</think><answer>24.30 to 30.40</answer>")
    (24.3, 30.4)
    """
    if not isinstance(response, str):
        return None
    region = _SRT_MILLIS.sub(".", _MARKDOWN.sub("", answer_region(response)))
    found: list[tuple[int, float, float]] = []
    for pattern in _SPAN_PATTERNS:
        for match in pattern.finditer(region):
            start, end = parse_clock(match.group(1)), parse_clock(match.group(2))
            if start is not None and end is not None:
                found.append((match.start(), start, end))
                break
    if not found:
        return None
    _, start, end = min(found, key=lambda item: item[0])
    return (start, end) if start <= end else (end, start)
