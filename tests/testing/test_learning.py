"""The learning benchmark's measure and verdict (videossr.testing.learning), on metrics files of verl's format.

The benchmark itself (train/learn_cpu.sh: several real GRPO runs, ~15 min each) is not run by the
suite; its figures are in docs/training.md.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from videossr.testing.learning import (
    Curve,
    RunSpec,
    RunStuck,
    metrics_folder,
    mode_problems,
    read_curve,
    sampling_error,
    task_changes,
    verdict,
    wait_for_run,
)


def curve(name: str, points: dict[int, float], lr: float = 1e-4) -> Curve:
    return Curve(RunSpec(name, 0, lr), points)


def test_the_measure_is_the_mean_over_tasks_of_verls_validation_reward(tmp_path):
    spec = RunSpec("seed0", 0, 1e-4)
    folder = metrics_folder(tmp_path, spec) / "metrics"
    folder.mkdir(parents=True)
    lines = [
        {"step": 0, "data": {"val-core/counting/reward/mean@2": 0.3, "val-core/jigsaw/reward/mean@2": 0.0,
                             "val-core/grounding/reward/mean@2": 0.3, "val-aux/counting/reward/std@2": 0.5}},
        {"step": 1, "data": {"critic/score/mean": 0.2}},  # a training step without validation
        {"step": 2, "data": {"val-core/counting/reward/mean@2": 0.6, "val-core/jigsaw/reward/mean@2": 0.3,
                             "val-core/grounding/reward/mean@2": 0.3}},
    ]  # fmt: skip
    (folder / "a.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    measured = read_curve(tmp_path, spec)
    assert measured.points == pytest.approx({0: 0.2, 2: 0.4}) and measured.start == pytest.approx(0.2)
    assert read_curve(tmp_path, RunSpec("never-ran", 1, 1e-4)) is None


def test_learned_needs_a_rise_beyond_three_spreads_and_a_flat_control():
    seeds = [curve("s0", {0: 0.20, 12: 0.40}), curve("s1", {0: 0.22, 12: 0.42}), curve("s2", {0: 0.18, 12: 0.38})]
    flat = curve("control", {0: 0.21, 12: 0.22}, lr=0.0)
    text, learned = verdict(seeds, flat)
    assert learned and text.endswith("; learned")
    assert text.startswith("learning: start 0.200±0.020 -> end 0.400±0.020 mean validation reward over 3 seeds")
    assert "control 0.210 -> 0.220" in text
    # The same rise with a control that moved as much: the rise is not the updates' doing.
    moving = curve("control", {0: 0.20, 12: 0.40}, lr=0.0)
    text, learned = verdict(seeds, moving)
    assert not learned and "(not flat)" in text
    # A rise inside three spreads of the start is noise.
    noisy = [curve("s0", {0: 0.1, 12: 0.3}), curve("s1", {0: 0.3, 12: 0.35}), curve("s2", {0: 0.2, 12: 0.25})]
    text, learned = verdict(noisy, flat)
    assert not learned and text.endswith("; did not learn")


def test_one_seed_is_a_quick_look_with_its_sampling_error_and_no_verdict():
    one = Curve(RunSpec("seed0", 0, 1e-3), {0: 0.018, 16: 0.178}, start_error=0.004)
    text, learned = verdict([one], None)
    assert not learned
    assert text == (
        "learning: start 0.018 (sampling error 0.004) -> end 0.178 mean validation reward of 1 seed; "
        "no verdict (one seed has no spread: a quick look)"
    )


def test_the_strict_run_is_measured_against_three_sampling_errors_of_its_start_and_reported():
    seeds = [curve("s0", {0: 0.20, 12: 0.40}), curve("s1", {0: 0.22, 12: 0.42}), curve("s2", {0: 0.18, 12: 0.38})]
    flat = curve("control", {0: 0.21, 12: 0.22}, lr=0.0)

    def strict(start: float, end: float, error: float | None) -> Curve:
        return Curve(RunSpec("strict-seed0", 0, 1e-3, "strict"), {0: start, 12: end}, start_error=error)

    text, learned = verdict(seeds, flat, strict(0.05, 0.09, 0.01))
    assert learned and "; strict 0.050 -> 0.090 (rose: 3 sampling errors 0.030); learned" in text
    # Strict pays only exact answers, which a tiny model rarely gives: reported, not the verdict.
    text, learned = verdict(seeds, flat, strict(0.05, 0.07, 0.01))
    assert learned and "; strict 0.050 -> 0.070 (no rise: 3 sampling errors 0.030); learned" in text
    text, learned = verdict(seeds, flat, strict(0.05, 0.09, None))
    assert "(no validation answers to measure its error)" in text


def test_the_sampling_error_comes_from_each_questions_answers(tmp_path):
    # Question a: rewards 0, 1 (sample variance 0.5); b: 1, 1 (0); two answers each, two questions:
    # variance of the mean = (0.5/2 + 0/2) / 2^2 = 0.0625.
    answers = [("a", 0.0), ("a", 1.0), ("b", 1.0), ("b", 1.0)]
    dump = tmp_path / "0.jsonl"
    dump.write_text(
        "".join(json.dumps({"uid": f"{q}-uuid_{i}_0", "reward": r}) + "\n" for i, (q, r) in enumerate(answers))
    )
    assert sampling_error(dump) == pytest.approx(0.0625**0.5)
    assert sampling_error(tmp_path / "missing.jsonl") is None


def _writer(log, lines: list[str], then_sleep: float) -> subprocess.Popen:
    script = (
        "import sys, time\n"
        "with open(sys.argv[1], 'a') as log:\n"
        f"    for line in {lines!r}:\n"
        "        log.write(line); log.flush(); time.sleep(0.2)\n"
        f"time.sleep({then_sleep})\n"
    )
    return subprocess.Popen([sys.executable, "-c", script, str(log)], start_new_session=True)  # as a run is


def test_a_run_whose_worker_ray_killed_for_memory_is_stopped_not_waited_for(tmp_path):
    log = tmp_path / "train.log"
    # Ray's message, split over two writes, after a normal line; then the run would hang.
    lines = ["step:1 - ok\n", "(raylet) 2 Workers (tasks / actors) killed due to me", "mory pressure (OOM)\n"]
    process = _writer(log, lines, then_sleep=60)
    try:
        with pytest.raises(RunStuck, match="lack of memory"):
            wait_for_run(process, log, timeout_s=30, poll_s=0.1)
    finally:
        process.kill()
        process.wait()


def test_a_finished_run_gives_its_status_and_a_silent_one_times_out(tmp_path):
    log = tmp_path / "train.log"
    finished = wait_for_run(_writer(log, ["step:1 - ok\n"], then_sleep=0), log, timeout_s=30, poll_s=0.1)
    assert finished.returncode == 0 and finished.wall_s > 0 and finished.peak_pss_gb > 0.001  # a Python, > 1 MB
    process = _writer(tmp_path / "other.log", [], then_sleep=60)
    try:
        with pytest.raises(RunStuck, match="hung"):
            wait_for_run(process, tmp_path / "other.log", timeout_s=0.5, poll_s=0.1)
    finally:
        process.kill()
        process.wait()


def test_each_tasks_change_and_the_reward_mode_are_read_from_verls_validation_metrics(tmp_path):
    def validation(reward: float, parsed: float, smooth: float, strict: float) -> dict:
        return {"val-core/jigsaw/reward/mean@4": reward, "val-aux/jigsaw/parsed/mean@4": parsed,
                "val-aux/jigsaw/smooth/mean@4": smooth, "val-aux/jigsaw/strict/mean@4": strict,
                "val-aux/jigsaw/reward/best@4/mean": 0.9}  # fmt: skip

    for spec, points in (
        (RunSpec("smooth-run", 0, 1e-3), {0: (0.0, 0.0, 0.0, 0.0), 8: (0.3, 0.8, 0.3, 0.05)}),
        (RunSpec("strict-run", 0, 1e-3, "strict"), {0: (0.0, 0.1, 0.03, 0.0), 8: (0.05, 0.8, 0.3, 0.05)}),
        # Trained with REWARD_MODE=strict, but the reward verl computed was the smooth one.
        (RunSpec("mode-lost", 0, 1e-3, "strict"), {0: (0.0, 0.0, 0.0, 0.0), 8: (0.3, 0.8, 0.3, 0.05)}),
    ):
        folder = metrics_folder(tmp_path, spec) / "metrics"
        folder.mkdir(parents=True)
        lines = [{"step": step, "data": validation(*values)} for step, values in points.items()]
        (folder / "a.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    smooth = read_curve(tmp_path, RunSpec("smooth-run", 0, 1e-3))
    assert smooth.tasks[8]["jigsaw"] == {"reward": 0.3, "parsed": 0.8, "smooth": 0.3, "strict": 0.05}
    assert task_changes(smooth) == "jigsaw 0.000 -> 0.300 (parsed 0.00 -> 0.80)"
    assert mode_problems(smooth) == []
    assert mode_problems(read_curve(tmp_path, RunSpec("strict-run", 0, 1e-3, "strict"))) == []
    assert mode_problems(read_curve(tmp_path, RunSpec("mode-lost", 0, 1e-3, "strict"))) == [
        "mode-lost step 8 jigsaw: reward 0.3000, strict 0.05"
    ]
