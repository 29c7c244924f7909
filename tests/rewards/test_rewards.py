"""Rewards: case tables for every parser and score, oracle checks, and property tests."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from videossr.rewards.counting import parse_counts
from videossr.rewards.extraction import extract_answer
from videossr.rewards.grounding import interval_iou, parse_interval
from videossr.rewards.jigsaw import order_score, parse_order
from videossr.rewards.scoring import RESULT_KEYS, compute_score

# ---------------------------------------------------------------------------- grounding


@pytest.mark.parametrize(
    "response, expected",
    [
        ("2.0-4.5", (2.0, 4.5)),  # the asked format
        ("  2.0 - 4.5 \n", (2.0, 4.5)),  # white space around the numbers is fine
        ("2-4", (2.0, 4.0)),  # integers
        ("3.0-3.0", (3.0, 3.0)),  # empty interval parses (scores by the union rule)
        ("4.5-2.0", None),  # reversed: the released scorer rejects it
        ("The change is at 2.0-4.5", None),  # prose around the answer
        ("'2.0-4.5'", None),  # quotes copied from the example
        ("2.0 to 4.5", None),
        ("1.2.3-4", None),  # not a number
        ("-1.0-2.0", None),  # negative start
        ("", None),
    ],
)
def test_parse_interval(response, expected):
    assert parse_interval(response) == expected


@pytest.mark.parametrize(
    "pred, truth, iou",
    [
        ((2.0, 4.0), (2.0, 4.0), 1.0),  # identical
        ((2.0, 4.0), (3.0, 5.0), 1 / 3),  # half overlap
        ((0.0, 1.0), (2.0, 3.0), 0.0),  # disjoint
        ((0.0, 10.0), (2.0, 3.0), 0.1),  # prediction covers the truth
        ((3.0, 3.0), (3.0, 3.0), 0.0),  # zero-length union and no intersection: 0 (released rule)
    ],
)
def test_interval_iou(pred, truth, iou):
    assert interval_iou(pred, truth) == pytest.approx(iou)


# ---------------------------------------------------------------------------- counting


@pytest.mark.parametrize(
    "response, expected",
    [
        ("3,1,4", (3, 1, 4)),
        ("3, 1, 4", (3, 1, 4)),
        ("circles: 3, squares: 1, triangles: 4", (3, 1, 4)),  # the released scorer reads any three digit runs
        ("3,1", None),  # two numbers
        ("3,1,4,5", None),  # padded with an extra number
        ("3.5,1,4", None),  # 3.5 is two digit runs
        ("three,one,four", None),
    ],
)
def test_parse_counts(response, expected):
    assert parse_counts(response) == expected


@pytest.mark.parametrize(
    "response, truth, score",
    [
        ("3,1,4", "3,1,4", 1.0),
        ("3,2,4", "3,1,4", 2 / 3),  # square off by 1 of 1: 0
        ("3,1,2", "3,1,4", (1 + 1 + 0.5) / 3),  # triangle off by 2 of 4
        ("0,0,0", "3,1,4", 0.0),
        ("9,9,9", "3,1,4", 0.0),  # over-counting is clipped at 0
    ],
)
def test_counting_score(response, truth, score):
    assert compute_score("counting", response, truth)["score"] == pytest.approx(score, abs=1e-6)


# ---------------------------------------------------------------------------- jigsaw


@pytest.mark.parametrize(
    "response, truth, score",
    [
        ("123456", "123456", 1.0),
        ("654321", "123456", 0.0),  # fully reversed: E = E_max = 18
        ("213456", "123456", 1 - 2 / 18),  # one adjacent swap
        ("12345", "123456", 0.0),  # not a permutation
        ("1234567", "123456", 0.0),
        ("1 2 3 4 5 6", "123456", 0.0),  # separators are not allowed
        (" 123456\n", "123456", 1.0),  # surrounding white space is
        ("51827463", "51827463", 1.0),  # 8 clips
        ("15827463", "51827463", 1 - 2 / 32),
    ],
)
def test_jigsaw_score(response, truth, score):
    assert compute_score("jigsaw", response, truth)["score"] == pytest.approx(score)


def test_shuffled_is_an_alias_of_jigsaw_for_data_made_by_the_released_code():
    assert compute_score("shuffled", "123456", "123456")["score"] == 1.0


def test_order_score_of_the_reversed_order_is_zero_for_every_length():
    for n in range(2, 10):
        truth = "".join(str(k) for k in range(1, n + 1))
        assert order_score(truth[::-1], truth) == 0.0  # its displacement is n*n//2 = E_max for any n
        assert parse_order(truth[::-1], n) == truth[::-1]


# ---------------------------------------------------------------------------- modes, formats, errors


def test_strict_mode_pays_only_exact_answers():
    assert compute_score("grounding", "2.0-4.0", "2.0-4.0", reward_mode="strict")["score"] == 1.0
    assert compute_score("grounding", "2.0-4.1", "2.0-4.0", reward_mode="strict")["score"] == 0.0
    assert compute_score("counting", "3,1,5", "3,1,4", reward_mode="strict")["score"] == 0.0
    assert compute_score("jigsaw", "213456", "123456", reward_mode="strict")["score"] == 0.0


def test_every_task_returns_the_same_keys():
    for task, response, truth in (("grounding", "1-2", "1.0-2.0"), ("counting", "x", "1,1,1"), ("jigsaw", "12", "12")):
        assert tuple(compute_score(task, response, truth)) == RESULT_KEYS


@pytest.mark.parametrize(
    "response, answer_format, expected",
    [
        ("<think>hmm</think><answer>3,1,4</answer>", "answer_tags", ("3,1,4", True)),
        ("<answer> 3,1,4 </answer>\n", "answer_tags", ("3,1,4", True)),
        ("<answer></answer>", "answer_tags", (None, False)),  # empty answer
        ("<answer>3,1,4</answer><answer>1,1,1</answer>", "answer_tags", (None, False)),  # two blocks
        ("<answer>3,1,4</answer> or maybe 5", "answer_tags", (None, False)),  # padding after the answer
        ("<answer>3,1,4", "answer_tags", (None, False)),  # unclosed
        ("3,1,4", "answer_tags", (None, False)),  # no tags
        ("<think>a</think> 3,1,4", "think", ("3,1,4", True)),
        ("<think>a</think>", "think", (None, False)),  # nothing after thinking
        ("</think>1</think>2", "think", (None, False)),  # two ends of thought
    ],
)
def test_answer_extraction_guards_against_known_hacks(response, answer_format, expected):
    assert extract_answer(response, answer_format) == expected


def test_format_weight_mixes_format_and_accuracy():
    result = compute_score(
        "counting", "<answer>3,1,2</answer>", "3,1,4", answer_format="answer_tags", format_weight=0.1
    )
    assert result["format"] == 1.0 and result["smooth"] == pytest.approx(2.5 / 3, abs=1e-6)
    assert result["score"] == pytest.approx(0.9 * 2.5 / 3 + 0.1, abs=1e-6)
    bad = compute_score("counting", "3,1,4", "3,1,4", answer_format="answer_tags", format_weight=0.1)
    assert bad["score"] == 0.0 and bad["parsed"] == 0.0


@pytest.mark.parametrize(
    "task, truth",
    [
        ("grounding", "2.0 to 4.0"),
        ("grounding", "5.0-4.0"),
        ("counting", "3,1"),
        ("counting", "a,b,c"),
        ("jigsaw", "1123"),
        ("jigsaw", ""),
    ],
)
def test_malformed_ground_truth_raises(task, truth):
    with pytest.raises(ValueError, match="malformed"):
        compute_score(task, "anything", truth)


def test_unknown_task_and_settings_raise_with_the_choices():
    with pytest.raises(ValueError, match="known: counting, grounding, jigsaw"):
        compute_score("gsm8k", "1", "1")
    with pytest.raises(ValueError, match="reward_mode"):
        compute_score("jigsaw", "12", "12", reward_mode="lenient")
    with pytest.raises(ValueError, match="format_weight"):
        compute_score("jigsaw", "12", "12", format_weight=2.0)


# ---------------------------------------------------------------------------- properties

TRUTHS = {"grounding": "12.3-20.1", "counting": "3,1,4", "jigsaw": "341562"}


@settings(max_examples=300, deadline=None)
@given(
    response=st.text(max_size=60),
    task=st.sampled_from(sorted(TRUTHS)),
    mode=st.sampled_from(["smooth", "strict"]),
    answer_format=st.sampled_from(["direct", "answer_tags", "think"]),
)
def test_any_response_scores_in_unit_interval_and_never_raises(response, task, mode, answer_format):
    result = compute_score(task, response, TRUTHS[task], reward_mode=mode, answer_format=answer_format)
    assert all(0.0 <= value <= 1.0 for value in result.values())
    assert result["strict"] <= result["smooth"] + 1e-12  # an exact answer always has the full smooth reward


@settings(max_examples=200, deadline=None)
@given(st.permutations(list("12345678")), st.permutations(list("12345678")))
def test_jigsaw_score_is_one_only_for_the_true_order(pred, truth):
    pred, truth = "".join(pred), "".join(truth)
    score = compute_score("jigsaw", pred, truth)["score"]
    assert 0.0 <= score <= 1.0 and (score == 1.0) == (pred == truth)


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 100), st.floats(0, 100), st.floats(0, 100), st.floats(0, 100))
def test_iou_is_symmetric_and_bounded(a, b, c, d):
    first, second = (min(a, b), max(a, b)), (min(c, d), max(c, d))
    assert 0.0 <= interval_iou(first, second) <= 1.0
    assert interval_iou(first, second) == pytest.approx(interval_iou(second, first))
