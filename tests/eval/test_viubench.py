"""VIUBench: building, VIUBench's scoring rules, the random-guess row, and runs that resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from media import REPO_ROOT

from videossr.errors import ConfigError
from videossr.eval.backends.random_backend import RandomBackend
from videossr.eval.viubench import (
    assign_benchmark_videos,
    build_viubench,
    load_benchmark,
    request_of,
    score_benchmark,
    subtypes,
)
from videossr.tasks.counting import DIFFICULTIES, choose_shape_frames
from videossr.tasks.seeds import rng_for

SCRIPT = REPO_ROOT / "eval" / "viubench.py"


@pytest.fixture(scope="module")
def benchmark(frames_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("viubench")
    return build_viubench(frames_dir, out, per_subtype=2, seed=0, reuse_videos=True, workers=2)


def test_the_nine_subtypes_are_the_papers():
    assert list(subtypes()) == [
        "counting/easy",
        "counting/hard",
        "grounding/channelswap",
        "grounding/rotate180",
        "grounding/zoomout",
        "grounding/mirror",
        "grounding/shuffle",
        "jigsaw/6",
        "jigsaw/8",
    ]


def test_each_video_serves_one_question_across_the_benchmark():
    ids = [f"v{k:04d}" for k in range(2700)]
    assignment = assign_benchmark_videos(ids, 300, seed=0)
    used = [v for videos in assignment.values() for v in videos]
    assert len(used) == len(set(used)) == 2700 and all(len(v) == 300 for v in assignment.values())
    with pytest.raises(ConfigError, match=r"needs 2700 videos.*--per-subtype 299"):
        assign_benchmark_videos(ids[:2699], 300, seed=0)


def test_built_records_carry_prompt_frames_at_512_and_a_stable_id(benchmark):
    records = load_benchmark(benchmark)
    assert {r["subtype"] for r in records} == set(subtypes())
    assert len({r["id"] for r in records}) == len(records) == 18
    for record in records:
        assert record["id"] == f"{record['subtype']}/{record['video_id']}"
        assert record["prompt"].count("<video>") == len(record["videos"])
        assert all(v["max_pixels"] == 512 * 512 and Path(v["video"][0]).is_file() for v in record["videos"])
        request = request_of(record)
        assert request.system == "Based on this video, provide the answer directly."
    jigsaw_hard = [r for r in records if r["subtype"] == "jigsaw/8"]
    assert all(len(r["videos"]) == 8 and len(r["ground_truth"]) == 8 for r in jigsaw_hard)


def _record(subtype: str, answer: str, num_clips: int = 6) -> dict:
    return {
        "id": f"{subtype}/x",
        "subtype": subtype,
        "ground_truth": answer,
        "prompt": "<video>\nq",
        "videos": [{"video": ["f.jpg"], "sample_fps": 1.0, "max_pixels": 1, "min_pixels": 1}],
    }


def test_scoring_follows_viubench_rules_not_the_training_rewards():
    records = [
        {**_record("grounding/mirror", "2.0-4.0"), "id": "g1"},
        {**_record("grounding/mirror", "2.0-4.0"), "id": "g2"},
        {**_record("counting/easy", "3,1,4"), "id": "c1"},
        {**_record("counting/easy", "3,1,4"), "id": "c2"},
        {**_record("jigsaw/6", "123456"), "id": "j1"},
        {**_record("jigsaw/6", "123456"), "id": "j2"},
    ]
    responses = {
        "g1": {"id": "g1", "response": "3.0-4.0"},  # IoU 0.5
        "g2": {"id": "g2", "response": "about 2 to 4"},  # not the asked format: 0, unparsed
        "c1": {"id": "c1", "response": "3,2,4"},  # two of three shapes exact: 2/3 (the reward would give 2/3 too)
        "c2": {"id": "c2", "response": "3,1,5"},  # 2/3 exact; the smooth reward would give (1+1+0.75)/3
        "j1": {"id": "j1", "response": "213456"},  # one swap: 0 (the smooth reward would give 0.89)
        # j2 unanswered: counts as 0 and as missing
    }
    summary = score_benchmark(records, responses)
    assert summary["subtypes"]["grounding/mirror"] == pytest.approx(25.0)
    assert summary["subtypes"]["counting/easy"] == pytest.approx(200 / 3)
    assert summary["subtypes"]["jigsaw/6"] == 0.0
    assert summary["tasks"] == pytest.approx({"counting": 200 / 3, "grounding": 25.0, "jigsaw": 0.0})
    assert summary["overall"] == pytest.approx((25.0 + 200 / 3 + 0.0) / 3)
    assert (summary["num_unparsed"], summary["num_missing"], summary["num_errors"]) == (1, 1, 0)


@pytest.mark.slow
def test_the_random_baseline_reproduces_the_papers_random_guess_row():
    backend = RandomBackend(seed=0)
    rng = rng_for(1)
    records, responses = [], {}
    for k in range(3000):
        for subtype, difficulty in (("counting/easy", "easy"), ("counting/hard", "hard")):
            shapes = choose_shape_frames(48, DIFFICULTIES[difficulty], rng)
            counts = [
                sum(e["num_instances"] for e in shapes if e["shape"] == s) for s in ("circle", "square", "triangle")
            ]
            limits = DIFFICULTIES[difficulty]
            records.append(
                {
                    **_record(subtype, ",".join(map(str, counts))),
                    "id": f"{subtype}/{k}",
                    "hints": {
                        "task": "counting",
                        "max_count": limits.max_frames_per_shape * limits.max_instances_per_frame,
                    },
                }
            )
        length = int(rng.integers(8, 17))
        start = int(rng.integers(0, 48 - length + 1))
        records.append(
            {
                **_record("grounding/shuffle", f"{start / 4.8:.1f}-{(start + length) / 4.8:.1f}"),
                "id": f"grounding/shuffle/{k}",
                "hints": {"task": "grounding", "duration_s": 10.0},
            }
        )
        order = "".join(str(int(i) + 1) for i in rng.permutation(6))
        records.append(
            {**_record("jigsaw/6", order), "id": f"jigsaw/6/{k}", "hints": {"task": "jigsaw", "num_clips": 6}}
        )
    for generation in backend.generate([request_of(r) for r in records]):
        responses[generation.id] = {"id": generation.id, "response": generation.response}
    summary = score_benchmark(records, responses)["subtypes"]
    assert summary["counting/easy"] == pytest.approx(11.1, abs=1.0)  # the paper: 11.1
    assert summary["counting/hard"] == pytest.approx(6.3, abs=1.0)  # the paper: 6.3
    assert summary["grounding/shuffle"] == pytest.approx(25.5, abs=1.0)  # the paper: 25.2-25.9
    assert summary["jigsaw/6"] < 0.5  # the paper: 0.1


def test_random_baseline_answers_repeat_for_a_seed_and_differ_across_seeds():
    request = request_of({**_record("jigsaw/6", "123456"), "hints": {"task": "jigsaw", "num_clips": 6}})
    first = RandomBackend(0).generate([request])[0].response
    assert first == RandomBackend(0).generate([request])[0].response
    assert len({RandomBackend(seed).generate([request])[0].response for seed in range(20)}) > 10


def _run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, **kwargs)


@pytest.mark.slow
def test_cli_build_run_and_score_with_the_random_baseline(frames_dir, tmp_path):
    built = _run(
        "build",
        "--frames-dir",
        str(frames_dir),
        "--output-dir",
        str(tmp_path / "bench"),
        "--per-subtype",
        "1",
        "--reuse-videos",
        "--workers",
        "1",
    )
    assert built.returncode == 0, built.stderr
    bench = tmp_path / "bench" / "viubench.json"
    ran = _run("run", "--benchmark", str(bench), "--backend", "random", "--output-dir", str(tmp_path / "r"))
    assert ran.returncode == 0, ran.stderr
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert set(summary["subtypes"]) == set(subtypes()) and summary["num_items"] == 9
    assert "Overall" in ran.stdout and "channelswap" in ran.stdout
    rescored = _run(
        "score",
        "--benchmark",
        str(bench),
        "--responses",
        str(tmp_path / "r" / "responses.jsonl"),
        "--output-dir",
        str(tmp_path / "s"),
    )
    assert rescored.returncode == 0
    assert json.loads((tmp_path / "s" / "summary.json").read_text())["overall"] == summary["overall"]


@pytest.mark.slow
def test_cli_errors_are_one_line(tmp_path):
    for args, message in (
        (
            ["run", "--benchmark", str(tmp_path / "none.json"), "--backend", "random", "--output-dir", str(tmp_path)],
            "benchmark file not found",
        ),
        (["run", "--benchmark", str(tmp_path / "none.json"), "--output-dir", str(tmp_path)], "--model is required"),
        (
            ["score", "--benchmark", str(tmp_path / "none.json"), "--responses", str(tmp_path / "r.jsonl")],
            "benchmark file not found",
        ),
    ):
        result = _run(*args)
        assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    (tmp_path / "empty.json").write_text("[]")
    result = _run("score", "--benchmark", str(tmp_path / "empty.json"), "--responses", str(tmp_path / "r.jsonl"))
    assert result.returncode == 2 and "holds no benchmark records" in result.stderr


def test_scoring_a_hand_written_file_rejects_ids_not_in_the_benchmark(benchmark, tmp_path):
    responses = tmp_path / "responses.jsonl"
    responses.write_text(json.dumps({"id": "no/such", "response": "1"}) + "\n")
    result = _run("score", "--benchmark", str(benchmark), "--responses", str(responses))
    assert result.returncode == 2 and "not in" in result.stderr


def test_a_run_folder_refuses_answers_of_another_model(benchmark, tmp_path):
    first = _run(
        "run", "--benchmark", str(benchmark), "--backend", "random", "--output-dir", str(tmp_path), "--limit", "2"
    )
    assert first.returncode == 0
    other = _run("run", "--benchmark", str(benchmark), "--model", str(tmp_path / "m"), "--output-dir", str(tmp_path))
    assert other.returncode == 2


def test_truncated_last_line_of_responses_is_repaired_on_resume(benchmark, tmp_path):
    first = _run(
        "run", "--benchmark", str(benchmark), "--backend", "random", "--output-dir", str(tmp_path), "--limit", "4"
    )
    assert first.returncode == 0
    path = tmp_path / "responses.jsonl"
    path.write_text(path.read_text() + '{"id": "counting/hard/bik')  # a crash mid-write
    again = _run("run", "--benchmark", str(benchmark), "--backend", "random", "--output-dir", str(tmp_path))
    assert again.returncode == 0, again.stderr
    lines = path.read_text().splitlines()
    assert len(lines) == 18 and all(json.loads(line)["id"] for line in lines)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["qwen3_vl", "qwen2_5_vl"])
def test_batched_answers_equal_one_at_a_time_answers(benchmark, family, tiny_model):
    from videossr.eval.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(str(tiny_model(family)), device="cpu")
    # One question of each prompt shape (counting, grounding, 6 and 8 clips): four different
    # prompt lengths and video counts, so the batch is padded; more would only repeat these.
    shapes = {"counting/easy", "grounding/mirror", "jigsaw/6", "jigsaw/8"}
    records = {r["subtype"]: r for r in reversed(load_benchmark(benchmark)) if r["subtype"] in shapes}
    assert set(records) == shapes
    requests = [request_of(records[s], max_new_tokens=5) for s in sorted(shapes)]
    single = [backend.generate([r])[0] for r in requests]
    batched = backend.generate(requests)
    assert [g.id for g in batched] == [r.id for r in requests]
    assert [g.response for g in batched] == [g.response for g in single]
    assert all(g.error is None for g in batched)


@pytest.mark.slow
def test_one_broken_request_in_a_batch_costs_only_itself(benchmark, tiny_model):
    from dataclasses import replace

    from videossr.eval.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(str(tiny_model("qwen3_vl")), device="cpu")
    requests = [request_of(r, max_new_tokens=3) for r in load_benchmark(benchmark)[:3]]
    broken_video = replace(requests[1].videos[0], frames=("/nonexistent/0.jpg",) * 4)
    requests[1] = replace(requests[1], videos=(broken_video,))
    generations = backend.generate(requests)
    assert [g.error is None for g in generations] == [True, False, True]
    assert "nonexistent" in generations[1].error
