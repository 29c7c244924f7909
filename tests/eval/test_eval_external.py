"""External benchmarks: frame protocol, lenient parsing, honest metrics, converters, the CLIs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from media import REPO_ROOT, SAMPLE_VIDEO_DIR, reference_luma_frames, write_vqa_benchmark

from videossr.errors import ConfigError, VideoError
from videossr.eval.convert import convert_charades_sta, convert_sentences_json, read_charades_durations
from videossr.eval.external import (
    Protocol,
    VideoLookup,
    load_records,
    options_of,
    score_vqa,
    score_vtg,
    video_input,
)
from videossr.eval.parsing import parse_option_letter, parse_time_span
from videossr.frames.plan import eval_frame_indices


@pytest.mark.parametrize(
    "num_frames, fps, max_frames, expected_count",
    [
        (250, 25.0, 48, 20),  # 10 s at 2 fps
        (18_000, 30.0, 48, 48),  # 10 min: capped
        (18_000, 30.0, 32, 32),
        (60, 30.0, 48, 4),  # 2 s: at least 4 frames
        (3, 30.0, 48, 3),  # fewer frames than the minimum: all of them
    ],
)
def test_frame_protocol_is_2fps_capped_even_and_spans_the_whole_video(num_frames, fps, max_frames, expected_count):
    indices = eval_frame_indices(num_frames, fps, max_frames)
    assert len(indices) == expected_count
    assert indices[0] == 0 and indices[-1] == num_frames - 1
    assert indices == sorted(set(indices))


def test_video_input_decodes_the_protocol_frames_exactly_on_the_true_clock():
    video, duration = video_input(SAMPLE_VIDEO_DIR / "bikes.mp4", Protocol(max_frames=16))
    assert duration == pytest.approx(10.0)
    assert len(video.frames) == 16 and video.frames[0].dtype == np.uint8 and video.frames[0].shape[2] == 3
    # 16 frames over source frames 0..249 at 25 fps: frame i is at i / sample_fps seconds.
    assert video.sample_fps == pytest.approx(15 / (249 / 25))
    reference = reference_luma_frames(SAMPLE_VIDEO_DIR / "bikes.mp4")
    gray = np.dot(video.frames[5].astype(float), [0.299, 0.587, 0.114])
    distances = [np.abs(gray - frame).mean() for frame in reference]
    assert int(np.argmin(distances)) == eval_frame_indices(250, 25.0, 16)[5]


@pytest.mark.parametrize(
    "response, letter",
    [
        ("C", "C"),
        ("C.", "C"),
        ("(B) a boat", "B"),
        ("The answer is D.", "D"),
        ("Answer: A", "A"),
        ("I think (B).", "B"),
        ("a boat", None),
        ("E", None),
        ("", None),
        ("The answer is a boat.", None),
    ],
)
def test_option_letters_are_found_where_answers_put_them(response, letter):
    assert parse_option_letter(response, "ABCD") == letter


@pytest.mark.parametrize(
    "response, span",
    [
        ("The event happens in the 24.3 - 30.4 seonds.", (24.3, 30.4)),
        ("12 to 20", (12.0, 20.0)),
        ("from 1:02 to 1:30", (62.0, 90.0)),
        ("30.4 - 24.3", (24.3, 30.4)),
        ("00:00:05 - 00:00:07.5", (5.0, 7.5)),
        ("at 12 seconds", None),
        ("1.2.3-4", None),
        ("", None),
    ],
)
def test_time_spans_are_parsed_leniently(response, span):
    assert parse_time_span(response) == span


def test_options_are_read_from_the_question():
    assert options_of("Q?\n(A) x\n(B) y\n(C) z") == "ABC"
    assert options_of("Q?\nA. x\nB. y") == "AB"
    assert options_of("Which one?") == "ABCD"


def test_vqa_accuracy_counts_unparsed_and_failed_items_as_wrong():
    records = [
        {"id": str(k), "video": "v", "question": "q\n(A) a\n(B) b", "ground_truth": "A", "category": "c" + str(k % 2)}
        for k in range(5)
    ]
    responses = {
        "0": {"response": "A"},
        "1": {"response": "(A)"},
        "2": {"response": "B"},
        "3": {"response": "no idea"},
        "4": {"response": "", "error": "VideoError: video not found"},
    }
    honest = score_vqa(records, responses)
    assert honest["accuracy"] == pytest.approx(40.0)
    assert (honest["num_unparsed"], honest["num_errors"]) == (1, 1)
    assert honest["categories"]["c0"]["num_items"] == 3
    legacy = score_vqa(records, responses, legacy=True)
    assert legacy["accuracy"] == pytest.approx(200 / 3)  # the released code's inflated number


def test_vtg_metrics_are_miou_and_recall_with_greater_or_equal():
    records = [{"id": str(k), "video": "v", "question": "q", "ground_truth": "10 - 20"} for k in range(4)]
    responses = {
        "0": {"response": "10 - 20"},  # IoU 1
        "1": {"response": "15 - 20"},  # IoU 0.5: counts for R@0.5 (>=)
        "2": {"response": "17 to 20"},  # IoU 0.3: counts for R@0.3
        "3": {"response": "never"},  # unparsed: IoU 0
    }
    summary = score_vtg(records, responses)
    assert summary["miou"] == pytest.approx((1 + 0.5 + 0.3) / 4 * 100)
    assert summary["recall@0.3"] == pytest.approx(75.0)
    assert summary["recall@0.5"] == pytest.approx(50.0)
    assert summary["recall@0.7"] == pytest.approx(25.0)


def test_bad_benchmark_files_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_records(tmp_path / "none.json")
    (tmp_path / "empty.json").write_text("[]")
    with pytest.raises(ConfigError, match="holds no records"):
        load_records(tmp_path / "empty.json")
    (tmp_path / "bad.jsonl").write_text('{"video": "v", "question": "q"}\n')
    with pytest.raises(ConfigError, match="lacks video/question/ground_truth"):
        load_records(tmp_path / "bad.jsonl")


def test_videos_are_found_by_id_with_any_extension(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "abc.MKV").write_bytes(b"x")
    lookup = VideoLookup(tmp_path)
    assert lookup.find("abc").name == "abc.MKV"
    with pytest.raises(VideoError, match="video not found: 'zzz'"):
        lookup.find("zzz")


def test_charades_sta_and_activitynet_files_convert(tmp_path):
    (tmp_path / "sta.txt").write_text("AO8RW 0.0 6.9##a person puts a book away.\nAO8RW 8.1 5.0##reversed.\nB 1 2##x\n")
    (tmp_path / "c.csv").write_text("id,length\nAO8RW,26.7\n")
    records = convert_charades_sta(tmp_path / "sta.txt", read_charades_durations(tmp_path / "c.csv")).records
    assert [r["id"] for r in records] == ["AO8RW#0", "AO8RW#1", "B#0"]
    assert (
        records[1]["ground_truth"] == "5.00 - 8.10"
        and records[0]["duration_s"] == 26.7
        and "duration_s" not in records[2]
    )
    (tmp_path / "bad.txt").write_text("AO8RW 0.0##no end\n")
    with pytest.raises(ConfigError, match="bad.txt:1"):
        convert_charades_sta(tmp_path / "bad.txt")
    (tmp_path / "anet.json").write_text(
        json.dumps({"v_abc": {"duration": 60.0, "timestamps": [[1, 5], [10, 20]], "sentences": ["one.", "two."]}})
    )
    records = convert_sentences_json(tmp_path / "anet.json", strip_prefix="v_").records
    assert [(r["video"], r["ground_truth"], r["duration_s"]) for r in records] == [
        ("abc", "1.00 - 5.00", 60.0),
        ("abc", "10.00 - 20.00", 60.0),
    ]


def _cli(script: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "eval" / script), *args], capture_output=True, text=True, env=env
    )


@pytest.mark.slow
def test_vqa_cli_end_to_end_with_a_tiny_qwen3_vl(tmp_path, tiny_model):

    model = tiny_model("qwen3_vl")
    bench = write_vqa_benchmark(tmp_path / "vqa.json")
    result = _cli(
        "vqa.py",
        "--benchmark",
        str(bench),
        "--video-dir",
        str(SAMPLE_VIDEO_DIR),
        "--model",
        str(model),
        "--output-dir",
        str(tmp_path / "r"),
        "--max-frames",
        "8",
        "--max-new-tokens",
        "4",
        "--batch-size",
        "2",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["num_items"] == 3 and summary["num_errors"] == 1  # the missing video: counted, as wrong
    assert summary["model"] == str(model) and set(summary["categories"]) == {"motion", "people"}
    lines = [json.loads(line) for line in (tmp_path / "r" / "responses.jsonl").read_text().splitlines()]
    assert {line["id"] for line in lines} == {"0", "1", "2"}
    assert "video not found" in next(line["error"] for line in lines if line["id"] == "2")


def test_vtg_cli_with_the_random_baseline_and_score_only(tmp_path):
    bench = tmp_path / "vtg.json"
    bench.write_text(json.dumps([{"video": "bikes", "question": "a bike passes.", "ground_truth": "2.0 - 6.0"}]))
    run = _cli(
        "vtg.py",
        "--benchmark",
        str(bench),
        "--video-dir",
        str(SAMPLE_VIDEO_DIR),
        "--backend",
        "random",
        "--output-dir",
        str(tmp_path / "r"),
    )
    assert run.returncode == 0, run.stderr
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["miou"] == pytest.approx(40.0)  # the whole 10 s video against a 4 s span
    again = _cli("vtg.py", "--benchmark", str(bench), "--output-dir", str(tmp_path / "r"), "--score-only")
    assert again.returncode == 0 and "miou 40.0" in again.stdout


@pytest.mark.slow
def test_cli_errors_for_a_wrong_model_path_and_a_missing_video_dir(tmp_path):
    bench = tmp_path / "b.json"
    bench.write_text(json.dumps([{"video": "bikes", "question": "q\n(A) a", "ground_truth": "A"}]))
    result = _cli(
        "vqa.py",
        "--benchmark",
        str(bench),
        "--video-dir",
        str(SAMPLE_VIDEO_DIR),
        "--model",
        str(tmp_path / "no_model"),
        "--output-dir",
        str(tmp_path / "r"),
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "cannot load model" in result.stderr
    result = _cli("vqa.py", "--benchmark", str(bench), "--backend", "random", "--output-dir", str(tmp_path / "r2"))
    assert result.returncode == 2 and "--video-dir is required" in result.stderr
