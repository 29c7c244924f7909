"""Answer parsing as models answer: case tables from real-looking outputs, and wrapped-answer properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from videossr.eval.parsing import answer_region, parse_option_letter, parse_options, parse_time_span

OPTIONS = {"A": "sleeping", "B": "dancing", "C": "cooking", "D": "running"}

MC_CASES = [
    ("C", "C"),  # terse, as asked
    ("C.", "C"),
    ("(C)", "C"),
    ("[C]", "C"),  # bracketed
    ("C) cooking", "C"),
    ("C: cooking", "C"),
    ("**C. cooking**", "C"),  # markdown bold with the option text
    ("**B.**", "B"),
    ("`D`", "D"),
    ("The correct answer is: C", "C"),
    ("The answer is (B).", "B"),
    ("Answer: A", "A"),
    ("Final answer: **D**", "D"),
    ("<answer>C</answer>", "C"),  # our own training format
    ("<think>The person holds a pan.</think><answer>(C)</answer>", "C"),
    ("<think>(A) is unlikely.</think><answer>(C)</answer>", "C"),  # reasoning letters never win
    ("<think>A seems wrong, B too.</think>\nC", "C"),  # text after </think>
    ("I choose D.", "D"),
    ("I would choose B because the man is dancing.", "B"),
    ("I'd go with C.", "C"),
    ("So the best option is:\n\nC. growing … eliminates option D as well.", "C"),  # not the first letter
    ("Option B is correct.", "B"),
    ("Looking at frame 3, A is ruled out. The answer is C, not D.", "C"),
    ("Option A is ruled out; I choose (D).", "D"),
    ("The man is cooking in the kitchen; therefore C.", "C"),  # concluding letter
    ("B is the correct answer.", "B"),
    ('{"answer": "C"}', "C"),  # JSON
    ("C\n\nExplanation: A and B are wrong.", "C"),  # the letter first, then reasoning
    ("c", "C"),  # a lone lowercase letter
    ("(b).", "B"),
    ("Answer: B\nExplanation: option A is wrong.", "B"),  # a later bare mention is no new answer
    ("cooking", "C"),  # option text alone
    ("The person is cooking.", "C"),  # exactly one option text inside
    ("Cooking.", "C"),
    ("The activity observed is B. dancing. The others do not fit.", "B"),  # a letter with its own text
    ("The person is cooking. It is clearly not sleeping, since the eyes are open, nor running.", "C"),  # first sentence
    ("The man is running. This can be seen from his legs, which would not fit dancing.", "D"),
    ("There is no sleeping or running here. The person is cooking.", "C"),  # negated sentences rule out
    ("The person is busy in the kitchen, which is option C.", "C"),
    ("Both seem possible.\n\nOption D: running fast.", "D"),
    ("So the best options are B. dancing and D. running.", "B"),  # several stated: the first
    ("The correct activity shown in the video is B.", "B"),
    # two letters named with no final-answer marker: the first, as the released code and lmms-eval read it
    ("B and C", "B"),
    ("(B) or (C)", "B"),
    ("It could be B or C.", "B"),
    ("A and B are wrong, so C.", "C"),  # a list in the reasoning is not the answer
    # not answers
    ("", None),
    ("a", None),  # the article, not option A
    ("A man is walking in the kitchen.", None),  # the article "A"
    ("I think so.", None),  # the pronoun "I"
    ("E", None),  # not an offered letter
    ("The answer is E.", None),
    ("The person is cooking or dancing.", None),  # two option texts: ambiguous
    ("The person is not sleeping. Maybe dancing or running.", None),  # a negated first sentence names nothing
    ("<think>The answer is A.</think>", None),  # only reasoning, truncated before answering
    ("<answer></answer> A", None),  # an empty answer block is the answer
    ("I cannot tell from the video.", None),
]


# Articles and possessives do not hide an option's text (TempCompass's published Reka-Core answers).
KNIGHT = {"A": "drawing sword from sheath", "B": "shooting an arrow", "C": "raising a shield"}


@pytest.mark.parametrize(
    "response, letter",
    [
        ("The knight is drawing his sword from the sheath. There is no bow to suggest shooting an arrow.", "A"),
        ("The knight in the video is drawing a sword from its sheath.", "A"),
        ("He is raising the shield.", "C"),
    ],
)
def test_option_text_is_found_through_articles_and_possessives(response, letter):
    assert parse_option_letter(response, "ABC", KNIGHT) == letter


@pytest.mark.parametrize("response, letter", MC_CASES)
def test_option_letter_is_the_final_answer_the_model_gave(response, letter):
    assert parse_option_letter(response, "ABCD", OPTIONS) == letter


def test_case_table_parse_rate_is_complete_on_answers_and_zero_on_non_answers():
    answers = [(response, letter) for response, letter in MC_CASES if letter is not None]
    parsed = sum(parse_option_letter(response, "ABCD", OPTIONS) == letter for response, letter in answers)
    assert parsed == len(answers)


SPAN_CASES = [
    ("The event happens in the 24.3 - 30.4 seonds.", (24.3, 30.4)),  # the prompt's own format
    ("24.3 - 30.4", (24.3, 30.4)),
    ("24.3-30.4", (24.3, 30.4)),
    ("24.3s - 30.4s", (24.3, 30.4)),
    ("from 24.3 to 30.4 seconds", (24.3, 30.4)),
    ("from 1:02 to 1:30", (62.0, 90.0)),  # mm:ss
    ("01:02.5 - 01:30.0", (62.5, 90.0)),  # mm:ss.s
    ("00:00:05 - 00:00:07.5", (5.0, 7.5)),  # hh:mm:ss(.s)
    ("The event starts at 00:00:24 and ends at 00:00:30.", (24.0, 30.0)),
    ("Start time: 24.3s\nEnd time: 30.4s", (24.3, 30.4)),
    ("The start time is 24.3 seconds and the end time is 30.4 seconds.", (24.3, 30.4)),
    ("It starts at 24.3 seconds and ends at 30.4 seconds.", (24.3, 30.4)),
    ("It begins at 24.3 and finishes at 30.4.", (24.3, 30.4)),
    ("[24.3, 30.4]", (24.3, 30.4)),
    ("(24.3, 30.4)", (24.3, 30.4)),
    ('{"start": 24.3, "end": 30.4}', (24.3, 30.4)),
    ('{"start_time": 24.3, "end_time": 30.4}', (24.3, 30.4)),
    ("between 24.3 and 30.4 seconds", (24.3, 30.4)),
    ("The event happens in the **24.3 - 30.4** seconds.", (24.3, 30.4)),
    ("<think>… visible from 0.00 to 24.30 seconds …</think>\n<answer>24.30 to 30.40</answer>", (24.3, 30.4)),
    ("<think>maybe 1 - 2</think>The event happens in the 24.3 - 30.4 seconds.", (24.3, 30.4)),
    ("30.4 - 24.3", (24.3, 30.4)),  # reversed: swapped
    ("12 to 20", (12.0, 20.0)),
    # plainly not a span
    ("Timestamps: 24.3 --> 30.4", (24.3, 30.4)),
    ("00:00:24,300 --> 00:00:30,400", (24.3, 30.4)),  # subtitle style
    ("24.3 -> 30.4", (24.3, 30.4)),
    ("The event occurs at 24.3 - 30.4 seconds, and again at 40 - 50.", (24.3, 30.4)),  # the first span
    ("The person sits down at 5 and 2 people walk in at 9.", None),
    ("at 12 seconds", None),
    ("1.2.3-4", None),  # a version string
    ("It costs 1,000 - 2,000 dollars.", None),  # thousands separators are no decimal times
    ("Recorded on 2023-05-01.", None),  # a date
    ("The event happens in the video.", None),
    ("", None),
    ("from 0 to " + "9" * 400, None),  # too large for a float
    ("1:75 - 1:80", None),  # seconds field past 59
]


@pytest.mark.parametrize("response, span", SPAN_CASES)
def test_time_span_is_found_in_every_phrasing_and_not_in_plain_numbers(response, span):
    assert parse_time_span(response) == (pytest.approx(span) if span else None)


@pytest.mark.parametrize(
    "question, options",
    [
        ("What?\nA. sit\nB. stand", {"A": "sit", "B": "stand"}),
        ("What?\n(A) sit\n(B) stand\n(C) run", {"A": "sit", "B": "stand", "C": "run"}),
        ("What?\nA) sit\nB) stand", {"A": "sit", "B": "stand"}),
        ("What?\nA: sit\nB: stand", {"A": "sit", "B": "stand"}),
        (
            "What does he do? A. sit B. stand C. run D. walk E. jump",
            {"A": "sit", "B": "stand", "C": "run", "D": "walk", "E": "jump"},
        ),  # inline
        ("What? (A) sit (B) stand", {"A": "sit", "B": "stand"}),
        ("Which one?", {}),
        ("Is vitamin C. important?\nA. yes\nB. no", {"A": "yes", "B": "no"}),  # a stray "C." is no option
    ],
)
def test_options_are_found_per_line_and_inline(question, options):
    assert parse_options(question) == options


def test_answer_region_prefers_the_answer_block_then_the_text_after_thinking():
    assert answer_region("<think>x</think><answer> B </answer>") == "B"
    assert answer_region("<think>x</think>\nB") == "B"
    assert answer_region("B <think>x") == "B"


# Templates a correct answer is wrapped in: {L} the letter, {T} its option text.
MC_TEMPLATES = [
    "{L}",
    "{L}.",
    "({L})",
    "[{L}]",
    "**{L}**",
    "**{L}. {T}**",
    "{L}. {T}",
    "{L}) {T}",
    "The answer is {L}.",
    "The correct answer is: ({L})",
    "Answer: {L}",
    "I choose {L}.",
    "Option {L} is correct.",
    "<answer>{L}</answer>",
    "<think>(A) and (B) are unlikely, maybe D.</think><answer>{L}</answer>",
    "<think>A? D?</think>\n{L}. {T}",
    "So the best option is:\n\n{L}. {T} ... eliminates option A as well.",
    "{T}",
]
SPAN_TEMPLATES = [
    "{s} - {e}",
    "The event happens in the {s} - {e} seonds.",
    "from {s} to {e} seconds",
    "[{s}, {e}]",
    '{{"start": {s}, "end": {e}}}',
    "The event starts at {s} and ends at {e}.",
    "Start time: {s}s\nEnd time: {e}s",
    "The start time is {s} seconds and the end time is {e} seconds.",
    "between {s} and {e}",
    "<think>from 0.00 to 1.00 seconds</think>\n<answer>{s} to {e}</answer>",
    "<answer>{s} - {e}</answer>",
]


@settings(max_examples=300, deadline=None)
@given(template=st.sampled_from(MC_TEMPLATES), letter=st.sampled_from("ABCD"))
def test_a_correct_letter_in_any_template_parses_to_itself(template, letter):
    response = template.format(L=letter, T=OPTIONS[letter])
    assert parse_option_letter(response, "ABCD", OPTIONS) == letter


def _clock(seconds: float, style: str) -> str:
    if style == "s":
        return f"{seconds:.1f}"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes):02d}:{rest:04.1f}" if style == "mm:ss" else f"00:{int(minutes):02d}:{rest:04.1f}"


@settings(max_examples=300, deadline=None)
@given(
    template=st.sampled_from(SPAN_TEMPLATES),
    start=st.integers(0, 3000).map(lambda t: t / 10),
    length=st.integers(1, 3000).map(lambda t: t / 10),
    style=st.sampled_from(["s", "mm:ss", "hh:mm:ss"]),
)
@pytest.mark.slow
def test_a_correct_span_in_any_template_parses_to_itself(template, start, length, style):
    end = round(start + length, 1)
    response = template.format(s=_clock(start, style), e=_clock(end, style))
    assert parse_time_span(response) == (pytest.approx(start), pytest.approx(end))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_without_raising(text):
    letter = parse_option_letter(text, "ABCD", OPTIONS)
    span = parse_time_span(text)
    assert letter is None or letter in "ABCD"
    assert span is None or 0 <= span[0] <= span[1]
