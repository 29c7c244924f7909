"""Training curves (train/curves.py) from the metrics files verl's FileLogger writes.

The files here are written in FileLogger's format (``{"step": N, "data": {...}}`` a line, as
verl 0.9.1's ``verl/utils/tracking.py`` writes them); tests/training/test_grpo_cpu.py checks the
same reader on a real GRPO run's file against the console's numbers.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import pytest
from browser import Dom, dump_dom, find_chromium, screenshot
from media import script_command

from videossr.errors import ConfigError
from videossr.report.training_curves import MEAN_VALIDATION, build_page, load_run, read_steps


def write_metrics(path: Path, steps: dict[int, dict], torn_tail: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        for step, data in steps.items():
            handle.write(json.dumps({"step": step, "data": data}) + "\n")
        handle.write(torn_tail)
    return path


def step_data(step: int, seed: int, validate: bool = False) -> dict:
    data = {
        "critic/score/mean": 0.1 * step + 0.01 * seed,
        "actor/kl_loss": 0.001 * step,
        "actor/entropy": 2.0 - 0.1 * step,
        "response_length/mean": 12.0 + step,
        "actor/grad_norm": 1.0 / step,
        "timing_s/step": 80.0 + seed,
        "perf/throughput": 100.0,
        "training/global_step": step,
        "training/epoch": 0,
        "note": "not a number",  # verl logs only numbers; anything else is left out, not an error
    }
    if validate:
        data["val-core/counting/reward/mean@1"] = 0.2 + 0.05 * step
        data["val-core/jigsaw/reward/mean@1"] = 0.1 + 0.02 * step
        data["val-aux/jigsaw/parsed/mean@1"] = 0.5 + 0.05 * step
    return data


@pytest.fixture
def runs(tmp_path) -> list[Path]:
    """Two seeds of a 6-step run (validation every 2 steps); seed 1 was killed after step 4 (a torn
    line) and resumed from its step-3 checkpoint, re-logging steps 4-6 into a second file."""
    seed0 = tmp_path / "seed0"
    write_metrics(
        seed0 / "metrics" / "20261207T100000Z-11.jsonl", {s: step_data(s, 0, s % 2 == 0) for s in range(1, 7)}
    )
    seed1 = tmp_path / "seed1"
    write_metrics(
        seed1 / "metrics" / "20261207T100000Z-12.jsonl",
        {s: step_data(s, 1, s % 2 == 0) for s in range(1, 5)},
        torn_tail='{"step": 5, "data": {"critic/sco',
    )
    resumed = {s: step_data(s, 1, s % 2 == 0) for s in range(4, 7)}
    resumed[4]["critic/score/mean"] = 9.0  # the re-run of step 4 after the resume is what counts
    write_metrics(seed1 / "metrics" / "20261207T110000Z-13.jsonl", resumed)
    return [seed0, seed1]


def test_a_resumed_run_keeps_every_step_once_with_the_later_value(runs):
    run = load_run(runs[1])
    assert sorted(run.steps) == [1, 2, 3, 4, 5, 6] and len(run.files) == 2
    assert run.steps[4]["critic/score/mean"] == 9.0 and run.steps[5]["critic/score/mean"] == pytest.approx(0.51)
    assert "note" not in run.steps[1]
    steps, values = zip(*run.series("val-core/counting/reward/mean@1"))
    assert steps == (2, 4, 6) and values == pytest.approx((0.3, 0.4, 0.5))


def test_a_broken_line_before_the_last_is_an_error_naming_it(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"step": 1, "data": {"a": 1}}\nnot json\n{"step": 3, "data": {"a": 3}}\n')
    with pytest.raises(ConfigError, match=r"m\.jsonl:2: not a verl metrics line"):
        read_steps([path])
    with pytest.raises(ConfigError, match="no verl metrics"):
        load_run(tmp_path / "nothing-here")


def test_the_page_overlays_the_runs_in_every_panel_and_names_what_is_missing(runs):
    document, loaded = build_page(runs)
    assert [r.label for r in loaded] == ["seed0", "seed1"]
    for metric in ("critic/score/mean", "val-core/counting/reward/mean@1", "val-core/jigsaw/reward/mean@1",
                   "actor/kl_loss", "actor/entropy", "response_length/mean", "actor/grad_norm", "timing_s/step",
                   "perf/throughput"):  # fmt: skip
        assert f'data-metric="{metric}"' in document, metric
    # The validation reward's mean over tasks and jigsaw's share of parsed answers get panels too.
    for metric in (MEAN_VALIDATION, "val-aux/jigsaw/parsed/mean@1"):
        assert f'data-metric="{metric}"' in document, metric
    assert loaded[0].steps[4][MEAN_VALIDATION] == pytest.approx(((0.2 + 0.05 * 4) + (0.1 + 0.02 * 4)) / 2)
    assert MEAN_VALIDATION not in loaded[0].steps[3]  # a step without validation
    assert document.count('data-series="seed0"') == document.count('data-series="seed1"') == 11
    # Not logged by these runs: the panel is left out and the page says so.
    assert 'data-metric="training/rollout_actor_probs_pearson_corr"' not in document
    assert "training/rollout_actor_probs_pearson_corr" in document.split("id=missing>")[1]


def test_same_named_runs_are_told_apart_by_their_parent_folder(tmp_path):
    for parent in ("lr0", "lr1e-6"):
        write_metrics(tmp_path / parent / "grpo" / "metrics" / "a.jsonl", {1: step_data(1, 0)})
    _, loaded = build_page([tmp_path / "lr0" / "grpo", tmp_path / "lr1e-6" / "grpo"])
    assert [r.label for r in loaded] == ["lr0/grpo", "lr1e-6/grpo"]


@pytest.mark.slow
def test_curves_cli_writes_a_page_a_real_browser_draws(runs, tmp_path):
    if find_chromium() is None:
        pytest.skip("Chromium is not installed (scripts/setup.sh --with-browser installs it)")
    output = tmp_path / "curves.html"
    done = subprocess.run(script_command("train/curves.py", *runs, output=output), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "seed0: 6 steps, seed1: 6 steps" in done.stdout
    dom = Dom(dump_dom(output))
    assert len(dom.with_class("curve")) == 11
    assert len([e for e in dom.elements if e.tag == "polyline"]) == 2 * 11  # one line per run and panel
    # Every step of both runs in the 7 per-step panels; steps 2, 4, 6 in the 4 validation panels
    # (the mean over tasks, counting, jigsaw, jigsaw's parsed answers).
    counts = sorted(e.attrs["data-points"] for e in dom.elements if e.tag == "g" and "data-series" in e.attrs)
    assert counts == ["3"] * 8 + ["6"] * 14
    image = cv2.imread(str(screenshot(output, tmp_path / "curves.png")))
    assert image.shape[:2] == (1000, 1280) and image.std() > 20  # a drawn page, not a blank one
    missing = subprocess.run(
        script_command("train/curves.py", tmp_path / "none", output=output), capture_output=True, text=True
    )
    assert missing.returncode != 0 and "no verl metrics" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1  # one line, no traceback


def test_summary_lines_show_under_the_title_escaped(runs):
    document, _ = build_page(runs, title="t", summary=["learning: start 0.1 -> end 0.2 <b>; learned"])
    assert "<pre class=summary>learning: start 0.1 -&gt; end 0.2 &lt;b&gt;; learned</pre>" in document
    assert document.index("class=summary") < document.index("<table>")
