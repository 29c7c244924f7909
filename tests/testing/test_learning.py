"""The learning benchmark's measure and verdict (videossr.testing.learning), on metrics files of verl's format.

The benchmark itself (train/learn_cpu.sh: several real GRPO runs, ~6 min each) is not run by the
suite; its figures are in docs/training.md.
"""

from __future__ import annotations

import json

import pytest

from videossr.testing.learning import Curve, RunSpec, metrics_folder, read_curve, verdict


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
