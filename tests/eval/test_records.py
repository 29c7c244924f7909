"""Benchmark records are validated at load: answer letters, option text, spans, several windows."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from media import REPO_ROOT

from videossr.errors import ConfigError
from videossr.eval.external import (
    load_records,
    score_vqa,
    score_vtg,
    validate_records,
    vqa_ground_truth,
    vtg_ground_truths,
)

Q = "What does the person do?\nA. sleeping\nB. cooking\nC. running"


@pytest.mark.parametrize(
    "question, answer, letter",
    [
        (Q, "B", "B"),
        (Q, "(B)", "B"),  # used to be cut to "(" and never match
        (Q, "B.", "B"),
        (Q, "B. cooking", "B"),
        (Q, "cooking", "B"),  # MVBench style: the option text
        (Q, "Cooking.", "B"),  # case and punctuation ignored
        ("What? A. sit B. stand C. run D. walk E. jump", "E", "E"),  # options written inline
        ("What?\n(A) sit\n(B) stand", "A", "A"),
        ("What?\nA) sit\nB) stand", "B", "B"),
        ("What?\nA: sit\nB: stand", "B", "B"),
    ],
)
def test_answer_letter_or_option_text_maps_to_the_letter(question, answer, letter):
    assert vqa_ground_truth({"id": "r", "question": question, "ground_truth": answer})[0] == letter


@pytest.mark.parametrize(
    "question, answer, reason",
    [
        (Q, "Z", "not among the options ABC"),  # used to be accepted
        (Q, "D", "not among the options ABC"),
        (Q, "swimming", "matches 0 option texts"),
        (Q, "", "not an option letter"),
        (Q, None, "not an option letter"),
        ("What does the person do?", "A", "no options found"),
        ("What?\nA. same\nB. same", "same", "matches 2 option texts"),
    ],
)
def test_bad_multiple_choice_answers_are_errors_naming_the_record(question, answer, reason):
    with pytest.raises(ConfigError, match=f"record r: .*{reason}"):
        vqa_ground_truth({"id": "r", "question": question, "ground_truth": answer})


@pytest.mark.parametrize(
    "answer, windows",
    [
        ("24.3 - 30.4", [(24.3, 30.4)]),
        ("5-5", [(5.0, 5.0)]),  # zero-length is valid (flagged by the converters)
        (["2 - 6", "10 - 14"], [(2.0, 6.0), (10.0, 14.0)]),
        ([[2, 6], [10.5, 14]], [(2.0, 6.0), (10.5, 14.0)]),
    ],
)
def test_grounding_answers_are_spans_or_lists_of_spans(answer, windows):
    assert vtg_ground_truths({"id": "r", "ground_truth": answer}) == windows


@pytest.mark.parametrize(
    "answer",
    [
        "30.4 - 24.3",
        "-1 - 2",
        "nan - 2",
        "inf - inf",
        "24.3 to 30.4",
        "24.3",
        [],
        [[1, 2, 0.9]],
        [None],
        None,
        "9" * 400 + " - " + "9" * 401,
        [[True, 2]],
    ],
)
def test_bad_grounding_answers_are_errors(answer):
    with pytest.raises(ConfigError, match="record r: "):
        vtg_ground_truths({"id": "r", "ground_truth": answer})


def test_iou_is_the_best_over_several_ground_truth_windows():
    records = [{"id": "q", "ground_truth": ["0 - 4", "10 - 20"]}]
    summary = score_vtg(records, {"q": {"response": "The event happens in the 15 - 20 seconds."}})
    assert summary["miou"] == pytest.approx(50.0)  # IoU 0 with the first window, 0.5 with the second


def test_option_text_answers_are_scored_against_the_mapped_letter():
    records = [{"id": str(k), "question": Q, "ground_truth": "cooking"} for k in range(3)]
    responses = {"0": {"response": "B"}, "1": {"response": "**B. cooking**"}, "2": {"response": "A"}}
    assert score_vqa(records, responses)["accuracy"] == pytest.approx(200 / 3)


def test_unparsed_responses_are_reported_with_examples():
    records = [{"id": str(k), "question": Q, "ground_truth": "B"} for k in range(8)]
    responses = {str(k): {"response": "I cannot tell. " + "x" * 500} for k in range(7)} | {"7": {"response": "B"}}
    summary = score_vqa(records, responses)
    assert summary["num_unparsed"] == 7 and len(summary["unparsed_examples"]) == 5
    assert summary["unparsed_examples"][0]["id"] == "0" and len(summary["unparsed_examples"][0]["response"]) == 301


def test_invalid_records_are_listed_in_one_error_or_skipped_and_counted():
    records = [
        {"id": "ok", "question": Q, "ground_truth": "B"},
        {"id": "bad1", "question": Q, "ground_truth": "Z"},
        {"id": "bad2", "question": "no options", "ground_truth": "A"},
    ]
    with pytest.raises(ConfigError) as info:
        validate_records(records, "vqa")
    message = str(info.value)
    assert "\n" not in message and "2 of 3 records are invalid" in message
    assert "bad1:" in message and "bad2:" in message and "--skip-invalid" in message
    valid, skipped = validate_records(records, "vqa", skip_invalid=True)
    assert [r["id"] for r in valid] == ["ok"] and skipped == ["bad1", "bad2"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "eval" / "vqa.py"), *args], capture_output=True, text=True, env=env
    )


def test_vqa_cli_refuses_invalid_records_and_scores_the_rest_with_skip_invalid(tmp_path):
    bench = tmp_path / "b.json"
    bench.write_text(
        json.dumps(
            [
                {"id": "1", "video": "v", "question": Q, "ground_truth": "cooking"},
                {"id": "2", "video": "v", "question": Q, "ground_truth": "Z"},
                {"id": "3", "video": "v", "question": Q, "ground_truth": "C"},
            ]
        )
    )
    out = tmp_path / "r"
    out.mkdir()
    (out / "responses.jsonl").write_text(
        "".join(
            json.dumps(line) + "\n"
            for line in [
                {"id": "1", "response": "<think>(A) is unlikely</think><answer>B</answer>"},
                {"id": "2", "response": "Z"},
                {"id": "3", "response": "I have no idea."},
            ]
        )
    )
    refused = _cli("--benchmark", str(bench), "--output-dir", str(out), "--score-only")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "2: ground truth 'Z'" in refused.stderr
    scored = _cli("--benchmark", str(bench), "--output-dir", str(out), "--score-only", "--skip-invalid")
    assert scored.returncode == 0, scored.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["accuracy"] == pytest.approx(50.0) and summary["num_items"] == 2
    assert summary["num_invalid_skipped"] == 1 and summary["invalid_ids"] == ["2"]
    assert summary["unparsed_examples"] == [{"id": "3", "response": "I have no idea."}]
    assert "unparsed 3: 'I have no idea.'" in scored.stdout


def test_files_that_spell_the_ground_truth_answer_are_read_with_the_projects_names(tmp_path):
    # lmms-eval's field names, and this project's before the vocabulary change.
    bench = tmp_path / "old.json"
    bench.write_text(json.dumps([{"video": "v", "question": "a dog runs.", "answer": "2 - 6", "duration": 9.5}]))
    (record,) = load_records(bench)
    assert record == {"id": "0", "video": "v", "question": "a dog runs.", "ground_truth": "2 - 6", "duration_s": 9.5}
    assert vtg_ground_truths(record) == [(2.0, 6.0)]
