"""A fourth pretext task defined here alone runs through every stage that consults the task registry.

The toy task, Reversal Detection, shows a video forwards or backwards and asks which. Nothing
outside this file knows it: generation (in spawned worker processes), the mix, the online
dataset, ``compute_score``, VIUBench build and score, the random baseline and the contact sheet
all find it through :func:`videossr.tasks.registry.get_task`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from videossr.data.generation import GenerationSettings, generate_files, read_rows, regenerate_sample
from videossr.data.mix import MixPart, Recipe, build_mix
from videossr.errors import ConfigError, VideoError
from videossr.eval.backends.base import Request
from videossr.eval.backends.random_backend import RandomBackend
from videossr.eval.viubench import build_viubench, load_benchmark, request_of, score_benchmark, subtypes
from videossr.frames.folder import load_index
from videossr.report.preview import RED, mark_border, render_contact_sheet
from videossr.rewards.scoring import compute_score
from videossr.tasks.prompts import single_video_user_message
from videossr.tasks.registry import (
    BenchmarkSubtype,
    PretextTask,
    TaskScorer,
    get_task,
    register_task,
    spec_of,
    unregister_task,
)
from videossr.tasks.sample import Sample
from videossr.training.online_dataset import OnlinePretextDataset

QUESTION = "Is this video played forward or backward? Answer with one word: forward or backward."
ANSWERS = ("forward", "backward")


def _parse_truth(text: str) -> str:
    if text not in ANSWERS:
        raise ValueError(f"malformed reversal ground truth {text!r}")
    return text


def _parse(response: str, truth: str) -> str | None:
    word = response.strip().strip(".").lower() if isinstance(response, str) else ""
    return word if word in ANSWERS else None


class ReversalTask(PretextTask):
    name = "reversal"
    default_variant = "whole"
    example_ground_truth = "backward"
    reward = TaskScorer(
        parse_truth=_parse_truth,
        parse=_parse,
        smooth=lambda answer, truth: float(answer == truth),
        strict=lambda answer, truth: answer == truth,
    )
    benchmark_subtypes = (BenchmarkSubtype("whole", "Reversal"),)

    def variants(self):
        return ("whole",)

    def variant_of_row(self, extra):
        return "whole"

    def make_sample(self, video, variant, rng, *, partner=None, **options):
        if video.num_frames < 2:
            raise VideoError("reversal needs at least 2 frames")
        backward = bool(rng.random() < 0.5)
        frames = [video.path(i) for i in range(video.num_frames)]
        return Sample(
            task=self.name,
            video_id=video.video_id,
            videos=[frames[::-1] if backward else frames],
            user_message=single_video_user_message(QUESTION),
            ground_truth=ANSWERS[backward],
            sample_fps=video.sample_fps,
            params={"backward": backward},
        )

    def benchmark_score(self, response, ground_truth):
        answer = _parse(response, ground_truth)
        return (0.0, None) if answer is None else (float(answer == ground_truth), answer)

    def random_answer(self, hints, rng):
        return ANSWERS[int(rng.integers(2))]

    def preview_mark(self, row, video_pos, position, thumb, scale):
        if not json.loads(row["extra_info"]["params"])["backward"]:
            return None
        mark_border(thumb, RED, 4)
        return RED


@pytest.fixture
def reversal():
    task = register_task(ReversalTask())
    yield task
    unregister_task(task.name)


def test_a_registered_task_is_found_and_a_duplicate_or_unknown_name_is_an_error(reversal):
    assert get_task("reversal") is reversal and spec_of("reversal").key == "reversal/whole"
    with pytest.raises(ValueError, match="'reversal' is already registered"):
        register_task(ReversalTask())
    with pytest.raises(ConfigError, match="unknown pretext task 'speed'; known: counting, grounding, jigsaw, reversal"):
        get_task("speed")
    with pytest.raises(ConfigError, match="unknown reversal variant 'half'; choose from whole"):
        spec_of("reversal/half")


@pytest.mark.slow
def test_the_toy_task_runs_through_generation_mix_online_rewards_viubench_and_preview(reversal, frames_dir, tmp_path):
    ids = [r["video_id"] for r in load_index(frames_dir)]
    spec = spec_of("reversal/whole")

    # Generation, in two spawned worker processes (they get the task object, not just its name).
    (summary,) = generate_files(frames_dir, tmp_path / "data", [(spec, ids)], GenerationSettings(seed=3), workers=2)
    rows = read_rows(summary.path)
    assert summary.num_rows == len(ids) == len(rows) and {r["data_source"] for r in rows} == {"reversal"}
    for row in rows:
        backward = json.loads(row["extra_info"]["params"])["backward"]
        assert row["reward_model"]["ground_truth"] == ("backward" if backward else "forward")
        positions = [int(Path(path).stem) for path in row["videos"][0]["video"]]  # frames folder: <i>.jpg
        assert positions == sorted(positions, reverse=backward)
        rebuilt = regenerate_sample(row)
        assert rebuilt.ground_truth == row["reward_model"]["ground_truth"]
    assert {r["reward_model"]["ground_truth"] for r in rows} == set(ANSWERS)  # 7 videos: both occur

    # The training reward, by data_source.
    assert compute_score("reversal", "Backward.", "backward")["score"] == 1.0
    assert compute_score("reversal", "forward", "backward")["score"] == 0.0
    assert compute_score("reversal", "no idea", "backward")["parsed"] == 0.0

    # A mix with the toy task beside a built-in one.
    recipe = Recipe("toy", (MixPart(spec, 1), MixPart(spec_of("jigsaw/6"), 1)), "reversal + jigsaw")
    mix = build_mix(frames_dir, tmp_path / "mix", recipe, GenerationSettings(), reuse_videos=True)
    assert sorted(s.key for s in mix.train) == ["jigsaw/6", "reversal/whole"]
    assert {r["data_source"] for r in read_rows(mix.val_path)} == {"reversal", "jigsaw"}

    # The online dataset draws it from data.online.mix.
    config = OmegaConf.create({"online": {"mix": "reversal/whole=1", "cache_dir": str(tmp_path / "cache")}})
    online = OnlinePretextDataset([str(frames_dir)], tokenizer=None, config=config)
    drawn = online.sample_row(0)
    assert drawn["data_source"] == "reversal" and drawn["reward_model"]["ground_truth"] in ANSWERS

    # VIUBench gains the subtype: built, answered by the random baseline, scored.
    assert list(subtypes())[-1] == "reversal/whole"
    bench = build_viubench(frames_dir, tmp_path / "viubench", per_subtype=2, reuse_videos=True)
    records = load_benchmark(bench)
    toy = [r for r in records if r["subtype"] == "reversal/whole"]
    assert len(toy) == 2 and len(records) == 20
    perfect = {r["id"]: {"response": r["ground_truth"]} for r in records}
    summary = score_benchmark(records, perfect)
    assert summary["subtypes"]["reversal/whole"] == 100.0 and summary["tasks"]["reversal"] == 100.0
    guesses = RandomBackend(seed=0).generate([request_of(r) for r in toy])
    assert all(g.error is None and g.response in ANSWERS for g in guesses)

    # The contact sheet: backward samples are marked in red.
    sheet = render_contact_sheet(rows[0])
    assert sheet.ndim == 3 and sheet.shape[2] == 3
    backward_row = next(r for r in rows if r["reward_model"]["ground_truth"] == "backward")
    assert np.any(np.all(render_contact_sheet(backward_row) == RED, axis=2))


def test_the_random_baseline_refuses_a_request_without_a_known_task(reversal):
    (generation,) = RandomBackend().generate([Request(id="x", user_text="?", videos=(), hints={"task": "speed"})])
    assert generation.error and "needs hints['task']" in generation.error


@pytest.mark.slow
def test_threads_looking_tasks_up_at_once_never_see_a_half_filled_registry():
    # verl's reward workers score in several threads; the first lookups import the task modules.
    script = """
import threading
from videossr.rewards.scoring import compute_score
errors = []
def score():
    try:
        compute_score("grounding", "1.0-2.0", "1.0-2.0")
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=score) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(errors or "ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr


@pytest.mark.slow
def test_a_task_module_named_in_the_environment_is_imported_on_first_use(tmp_path):
    (tmp_path / "my_toy_tasks.py").write_text(
        "from videossr.tasks.registry import register_task\n"
        "from test_task_plugin import ReversalTask\n"
        "register_task(ReversalTask())\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(__file__).parent)])}
    script = "from videossr.rewards.scoring import compute_score as s; print(s('reversal', 'forward', 'forward'))"
    ok = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**env, "VIDEOSSR_TASK_MODULES": "my_toy_tasks"},
    )
    assert ok.returncode == 0 and "'score': 1.0" in ok.stdout, ok.stderr
    bad = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**env, "VIDEOSSR_TASK_MODULES": "no_such_tasks"},
    )
    assert bad.returncode != 0 and "VIDEOSSR_TASK_MODULES: cannot import task module 'no_such_tasks'" in bad.stderr
