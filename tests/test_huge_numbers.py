"""Numbers of any length never crash a scorer or make a score NaN (reliability issue, part 2).

A degenerate rollout can be a digit run of hundreds or thousands of characters: it fits in the
2,048-token response budget, and verl's reward manager does not catch exceptions, so one such
response used to stop a training run (``int()`` refuses 4,301+ digits; ``int / float`` overflows
from ~309). VIUBench's scorer turned a 400-digit span into NaN, and NaN poisons a subtype and
Overall. Every scoring path is checked here: the training reward in every mode and answer format,
VIUBench's rules, and the external VQA/VTG scorers.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from videossr.eval.external import score_vqa, score_vtg
from videossr.eval.parsing import parse_time_span
from videossr.eval.viubench import score_benchmark, score_response, subtypes
from videossr.rewards.counting import HUGE_COUNT, parse_counts
from videossr.rewards.grounding import parse_interval
from videossr.rewards.scoring import compute_score

TRUTHS = {"grounding": "12.3-20.1", "counting": "3,1,4", "jigsaw": "341562"}
VIUBENCH_TRUTHS = {"grounding": "12.3-20.1", "counting": "3,1,4", "jigsaw": "341562"}

digit_runs = st.builds(
    lambda digit, length, lead: lead + digit * length,
    st.sampled_from(list("0123456789") + ["٣", "９", "߉"]),  # ASCII, Arabic-Indic, fullwidth, NKo
    st.integers(300, 10_000),
    st.sampled_from(["", "-", "+", "0.", "1e", "."]),
)
# How a huge number shows up in a response: alone, or where a real answer's number would be.
templates = st.sampled_from(
    [
        "{n}",
        "{n},1,1",
        "1,{n},1",
        "{n}-{n}",
        "0-{n}",
        "{n}-1",
        "1.5-{n}",
        "{n}.5-{n}.7",
        "<answer>{n}</answer>",
        "<think>x</think>{n},2,3",
        "The answer is {n} - {n} seconds.",
        "{n} to {n}",
        "inf-nan",
        "nan,inf,-1",
        "-1,-2,-3",
        "{n}{n}",
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    number=digit_runs,
    template=templates,
    task=st.sampled_from(sorted(TRUTHS)),
    mode=st.sampled_from(["smooth", "strict"]),
    answer_format=st.sampled_from(["direct", "answer_tags", "think"]),
)
def test_training_reward_of_a_huge_number_is_finite_in_unit_interval(number, template, task, mode, answer_format):
    response = template.format(n=number)
    result = compute_score(task, response, TRUTHS[task], reward_mode=mode, answer_format=answer_format)
    assert all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in result.values()), result


@settings(max_examples=150, deadline=None)
@given(number=digit_runs, template=templates, subtype=st.sampled_from(sorted(subtypes())))
def test_viubench_score_of_a_huge_number_is_finite_in_unit_interval(number, template, subtype):
    task = subtypes()[subtype].spec.task
    truth = VIUBENCH_TRUTHS[task] if subtype != "jigsaw/8" else "34156287"
    score, _ = score_response({"subtype": subtype, "ground_truth": truth}, template.format(n=number))
    assert math.isfinite(score) and 0.0 <= score <= 1.0


@settings(max_examples=100, deadline=None)
@given(number=digit_runs, template=templates)
def test_external_scores_of_a_huge_number_are_finite(number, template):
    response = template.format(n=number)
    records = [{"id": "v", "question": "Q?\nA. yes\nB. no", "ground_truth": "A"}]
    vqa = score_vqa(records, {"v": {"id": "v", "response": response}})
    vtg = score_vtg([{"id": "t", "ground_truth": "2.0 - 4.0"}], {"t": {"id": "t", "response": response}})
    assert math.isfinite(vqa["accuracy"]) and 0.0 <= vqa["accuracy"] <= 100.0
    for key in ("miou", "recall@0.3", "recall@0.5", "recall@0.7"):
        assert math.isfinite(vtg[key]) and 0.0 <= vtg[key] <= 100.0


@pytest.mark.parametrize(
    "response, expected",
    [
        ("9" * 309 + ",1,1", (HUGE_COUNT, 1, 1)),  # used to raise OverflowError in the score
        ("9" * 4301 + ",1,1", (HUGE_COUNT, 1, 1)),  # used to raise ValueError (int-string limit)
        ("0" * 5000 + "3,1,4", (3, 1, 4)),  # leading zeros are still the number 3
        ("٣,١,٤", (3, 1, 4)),  # Unicode digits count, as the released \d+ scorer counted them
        ("-3,-1,-4", (3, 1, 4)),  # signs are not digits (the released rule)
    ],
)
def test_counting_parses_digit_runs_of_any_length(response, expected):
    assert parse_counts(response) == expected


def test_a_huge_count_scores_like_any_wildly_wrong_count():
    wrong = compute_score("counting", "9" * 309 + ",1,4", "3,1,4")
    assert wrong["smooth"] == pytest.approx(2 / 3, abs=1e-6) and wrong["strict"] == 0.0


@pytest.mark.parametrize("response", ["9" * 400 + "-" + "9" * 401, "0-" + "9" * 400, "inf-inf", "nan-nan", "1e999-2"])
def test_a_span_too_large_for_a_float_is_unparsed_not_nan(response):
    assert parse_interval(response) is None
    assert compute_score("grounding", response, "1.0-2.0")["score"] == 0.0


def test_viubench_summary_stays_finite_with_a_400_digit_span():
    records = [{"id": "g", "subtype": "grounding/mirror", "ground_truth": "2.0-4.0"}]
    summary = score_benchmark(records, {"g": {"id": "g", "response": "0-" + "9" * 400}})
    assert summary["overall"] == 0.0 and summary["num_unparsed"] == 1


@pytest.mark.parametrize("response", ["from 0 to " + "9" * 400, "9" * 400 + " - " + "9" * 401])
def test_lenient_span_parser_refuses_non_finite_times(response):
    assert parse_time_span(response) is None
