"""Where the answer is in a response: the whole response (the paper), or a tagged part of it.

Off by default: the paper trains and evaluates with no chain of thought and no answer tags. The
tagged variants are for users who train reasoning models, and are guarded against the known
reward hacks: an empty answer, several answer blocks (the scorer would pick the lucky one), and
text after the answer block (answers padded with extra numbers). The task parsers then apply
their own format rules to the extracted text, e.g. counting still needs exactly three numbers.

>>> extract_answer("<think>count them</think><answer>3,1,4</answer>", "answer_tags")
('3,1,4', True)
>>> extract_answer("<answer>1</answer><answer>2</answer>", "answer_tags")
(None, False)
"""

from __future__ import annotations

import re

ANSWER_FORMATS = ("direct", "answer_tags", "think")

_ANSWER_BLOCK = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_THINK_END = "</think>"


def extract_answer(response: str, answer_format: str = "direct") -> tuple[str | None, bool]:
    """``(answer_text or None, format_ok)`` of ``response`` under ``answer_format``.

    - ``direct``: the response itself; the format is always valid.
    - ``answer_tags``: the content of the one ``<answer>…</answer>`` block, with nothing but white
      space after it; several blocks, an unclosed block, trailing text or an empty answer fail.
    - ``think``: the text after the one ``</think>``; a missing or repeated ``</think>`` or an
      empty remainder fail.
    """
    if not isinstance(response, str):
        return None, False
    if answer_format == "direct":
        return response, True
    if answer_format == "answer_tags":
        blocks = list(_ANSWER_BLOCK.finditer(response))
        if len(blocks) != 1 or response.count("<answer>") != 1:
            return None, False
        block = blocks[0]
        answer = block.group(1).strip()
        if not answer or response[block.end() :].strip():
            return None, False
        return answer, True
    if answer_format == "think":
        if response.count(_THINK_END) != 1:
            return None, False
        answer = response.split(_THINK_END, 1)[1].strip()
        return (answer, True) if answer else (None, False)
    raise ValueError(f"answer_format must be one of {ANSWER_FORMATS}, got {answer_format!r}")
