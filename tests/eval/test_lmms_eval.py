"""VIUBench inside lmms-eval: the task's functions here, and lmms-eval 0.7.3 itself running the task on the CPU.

The slow tests run ``python -m lmms_eval`` in the cached lmms-eval environment
(``scripts/setup_lmms_eval.sh``; skipped, with the reason, when it is not installed) on a mini
VIUBench built from the test videos, and check that:

- the ``videossr`` model's answers are ``eval/viubench.py run``'s, answer for answer, for a tiny
  Qwen3-VL through the transformers backend and for the seeded random baseline;
- every metric lmms-eval reports equals our scorer's on the responses lmms-eval logged, and equals
  ``eval/viubench.py``'s summary (the random baseline gives non-zero scores, so this can fail);
- lmms-eval's own Qwen3-VL chat wrapper runs the task (frames given as videos), and its numbers are
  our scorer's on its logged responses;
- ``eval/report.py`` reads lmms-eval's output and shows the run's Table 1 row.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from media import REPO_ROOT, script_command

from videossr.errors import ConfigError
from videossr.eval.lmms_eval import results as lmms_results
from videossr.eval.lmms_eval import task as lmms_task
from videossr.eval.viubench import build_viubench, load_benchmark, score_benchmark, subtypes

TASK_DIR = REPO_ROOT / "eval" / "lmms_eval_tasks"
SETUP_SCRIPT = REPO_ROOT / "scripts" / "setup_lmms_eval.sh"
STAMP_NAME = ".videossr-lmms-eval-stamp"
#: A whole lmms-eval run of 9 questions takes ~25 s here; a hung one is killed (its session only).
RUN_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def benchmark(frames_dir, tmp_path_factory) -> Path:
    """A mini VIUBench: one question per subtype."""
    return build_viubench(frames_dir, tmp_path_factory.mktemp("viubench"), per_subtype=1, reuse_videos=True, workers=1)


# ----------------------------------------------------------------------------- the task's functions


def _load_task_utils():
    spec = importlib.util.spec_from_file_location("viubench_task_utils", TASK_DIR / "viubench" / "utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _task_yaml() -> dict:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: ("function", loader.construct_scalar(node)))
    return yaml.load((TASK_DIR / "viubench" / "viubench.yaml").read_text(), Loader=Loader)


def test_the_yaml_names_every_metric_and_function_the_task_module_has():
    config = _task_yaml()
    utils = _load_task_utils()
    assert [m["metric"] for m in config["metric_list"]] == lmms_task.metric_names()
    assert lmms_task.metric_names()[:9] == list(subtypes()) and lmms_task.metric_names()[-1] == "overall"
    functions = [v[1] for v in config.values() if isinstance(v, tuple)]
    functions += [m["aggregation"][1] for m in config["metric_list"]]
    assert len(functions) == 6 + 13
    for name in functions:
        module, _, attribute = name.partition(".")
        assert module == "utils" and callable(getattr(utils, attribute)), name
    # VIUBench's protocol: greedy, 64 new tokens.
    assert config["generation_kwargs"] == {"max_new_tokens": 64, "temperature": 0, "do_sample": False}


def test_docs_come_from_the_file_viubench_file_names(benchmark, monkeypatch):
    monkeypatch.delenv(lmms_task.BENCHMARK_ENV, raising=False)
    with pytest.raises(ConfigError, match="set VIUBENCH_FILE"):
        lmms_task.load_docs()
    monkeypatch.setenv(lmms_task.BENCHMARK_ENV, str(benchmark.parent / "missing.json"))
    with pytest.raises(ConfigError, match="benchmark file not found"):
        lmms_task.load_docs()
    monkeypatch.setenv(lmms_task.BENCHMARK_ENV, str(benchmark))
    docs = lmms_task.load_docs()
    records = load_benchmark(benchmark)
    assert [d["id"] for d in docs] == [r["id"] for r in records]
    assert [lmms_task.record_of_doc(d) for d in docs] == records
    assert {d["benchmark"] for d in docs} == {str(benchmark.resolve())}


def test_chat_messages_keep_the_system_message_the_clip_labels_and_the_stored_frames(benchmark, monkeypatch):
    monkeypatch.setenv(lmms_task.BENCHMARK_ENV, str(benchmark))
    doc = next(d for d in lmms_task.load_docs() if d["subtype"] == "jigsaw/8")
    record = lmms_task.record_of_doc(doc)
    system, user = lmms_task.doc_to_messages(doc)
    assert system == {"role": "system", "content": [{"type": "text", "text": record["system"]}]}
    videos = [c for c in user["content"] if c["type"] == "video"]
    assert [v["url"] for v in videos] == [v["video"] for v in record["videos"]] and len(videos) == 8
    texts = [c["text"] for c in user["content"] if c["type"] == "text"]
    assert texts[0] == "Clip 1: " and texts[1] == "\nClip 2: " and texts[-1].endswith(record["question"])
    # The simple wrappers' form: every frame as an image, the prompt without placeholders.
    assert "<video>" not in lmms_task.doc_to_text(doc) and lmms_task.doc_to_text(doc).startswith("Clip 1: ")
    frames = lmms_task.doc_to_visual(doc)
    assert len(frames) == sum(len(v["video"]) for v in record["videos"]) and frames[0].mode == "RGB"


def test_aggregations_are_our_scorer_and_a_subtype_without_docs_is_nan(benchmark, monkeypatch):
    monkeypatch.setenv(lmms_task.BENCHMARK_ENV, str(benchmark))
    docs = list(lmms_task.load_docs())
    answers = {"counting/easy": "1,2,3", "grounding/mirror": "0.5-1.5", "jigsaw/6": "123456"}
    items = [lmms_task.process_results(d, [answers.get(d["subtype"], "no idea")])["overall"] for d in docs]
    records = load_benchmark(benchmark)
    expected = score_benchmark(records, {i["id"]: {"response": i["response"]} for i in items})
    for name, aggregate in lmms_task.AGGREGATIONS.items():
        value = expected["subtypes"].get(name, expected["tasks"].get(name, expected["overall"]))
        assert aggregate(items) == pytest.approx(value, abs=1e-12), name
    counting_only = [i for i in items if i["subtype"] == "counting/easy"]
    assert math.isnan(lmms_task.AGGREGATIONS["jigsaw/6"](counting_only))
    assert lmms_task.AGGREGATIONS["counting/easy"](counting_only) == expected["subtypes"]["counting/easy"]


# ----------------------------------------------------------------------------- reading lmms-eval's output


def _write_lmms_output(folder: Path, task: str, metrics: dict, samples: list[dict], date: str = "20261207_120000"):
    """Files in lmms-eval 0.7.3's layout and shape (as its EvaluationTracker writes them)."""
    folder.mkdir(parents=True, exist_ok=True)
    block = {"alias": task}
    for name, value in metrics.items():
        block[f"{name},none"] = value
        block[f"{name}_stderr,none"] = "N/A"
    results = {
        "results": {task: block},
        "n-samples": {task: {"original": len(samples), "effective": len(samples)}},
        "config": {"model": "qwen3_vl", "model_args": "pretrained=/models/Qwen3-VL-8B-Instruct,max_num_frames=48"},
        "lmms_eval_version": "0.7.3",
    }
    (folder / f"{date}_results.json").write_text(json.dumps(results))
    with open(folder / f"{date}_samples_{task}.jsonl", "w") as handle:
        for sample in samples:
            handle.write(json.dumps(sample) + "\n")


def test_an_lmms_eval_run_of_another_task_is_read_with_its_metrics_and_samples(tmp_path):
    samples = [
        {
            "doc_id": k,
            "target": gt,
            "filtered_resps": [pred],
            "input": f"question {k}",
            "doc_hash": "x",
            "videomme_perception_score": {
                "question_id": f"q{k}",
                "pred_answer": pred,
                "answer": gt,
                "score": float(pred == gt),
            },
        }
        for k, (pred, gt) in enumerate([("B", "B"), ("C", "A"), ("A", "A")])
    ]
    _write_lmms_output(
        tmp_path / "out" / "Qwen3-VL-8B-Instruct", "videomme", {"videomme_perception_score": 66.67}, samples
    )
    _write_lmms_output(
        tmp_path / "out" / "Qwen3-VL-8B-Instruct",
        "videomme",
        {"videomme_perception_score": 1.0},
        samples[:1],
        "20261101_000000",
    )
    assert lmms_results.is_lmms_eval_output(tmp_path / "out") and not lmms_results.is_lmms_eval_output(tmp_path)
    [path] = lmms_results.results_files(tmp_path / "out")
    run = lmms_results.read_run(path)
    assert path.name.startswith("20261207")  # the newest run of the folder
    assert run.label == "Qwen3-VL-8B-Instruct" and run.model == "qwen3_vl"
    result = run.tasks["videomme"]
    assert result.metrics == {"videomme_perception_score": 66.67} and result.num_samples == 3
    assert [lmms_results.sample_response(s) for s in lmms_results.read_samples(result.samples_path)] == ["B", "C", "A"]

    from videossr.report.eval_report import build_report

    document, stats = build_report([tmp_path / "out"], per_group=2)
    assert "videomme (lmms-eval)" in document and 'id="lmms-r0a-videomme_perception_score">66.67<' in document
    assert stats.num_runs == 1 and stats.num_items_shown == 2
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no lmms-eval results file"):
        lmms_results.results_files(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x_results.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read"):
        lmms_results.read_run(tmp_path / "bad" / "x_results.json")


# ----------------------------------------------------------------------------- lmms-eval itself


def lmms_eval_python() -> Path:
    """Python of the cached lmms-eval environment; skips the calling test (reason printed) when missing."""
    out = subprocess.run(["bash", str(SETUP_SCRIPT), "--path"], capture_output=True, text=True, check=True)
    venv = Path(out.stdout.strip())
    if (venv / STAMP_NAME).is_file():
        return venv / "bin" / "python"
    failed = venv.with_name(venv.name + ".failed")
    if failed.is_file():
        detail = " | ".join(line.strip() for line in failed.read_text(errors="replace").splitlines()[-5:])
        pytest.skip(f"the lmms-eval environment failed to install ({failed}): {detail}")
    pytest.skip(f"the lmms-eval environment is not installed at {venv}: run bash scripts/setup_lmms_eval.sh")


def run_lmms_eval(
    python: Path, benchmark: Path, output: Path, model: str, model_args: str, batch_size: int = 4, debug: bool = False
):
    """``python -m lmms_eval`` on the viubench task, offline; returns the run's results file.

    lmms-eval exits 0 even when the evaluation failed, so success is its results file, not the exit code.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "PYTHONPATH")}
    env.update(
        PYTHONPATH=str(REPO_ROOT),  # this checkout's package, whichever clone built the cached environment
        VIUBENCH_FILE=str(benchmark),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_DATASETS_CACHE=str(output / "hf_datasets"),
        TOKENIZERS_PARALLELISM="false",
    )
    command = [
        str(python), "-m", "lmms_eval", "--model", model, "--model_args", model_args, "--tasks", "viubench",
        "--include_path", str(TASK_DIR), "--batch_size", str(batch_size), "--log_samples",
        "--output_path", str(output), "--verbosity", "DEBUG" if debug else "INFO",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        log, _ = process.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)  # its own session: nothing this test did not start
            process.wait()
    # In a folder named after the model's `pretrained`, or in the output folder itself without one.
    found = lmms_results.is_lmms_eval_output(output) and lmms_results.results_files(output)
    assert found, f"lmms-eval wrote no results (exit {process.returncode}):\n{log[-4000:]}"
    return found[0], log


def our_run(benchmark: Path, folder: Path, *args: str) -> tuple[dict, dict]:
    """``eval/viubench.py run`` on the benchmark: (summary, responses by id)."""
    command = script_command("eval/viubench.py", "run", benchmark=benchmark, output_dir=folder)
    done = subprocess.run([*command, *args], capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    responses = {}
    for line in (folder / "responses.jsonl").read_text().splitlines():
        entry = json.loads(line)
        responses[entry["id"]] = entry["response"]
    return json.loads((folder / "summary.json").read_text()), responses


def check_metrics_are_our_scorer(results_path: Path, benchmark: Path) -> dict:
    """lmms-eval's metrics equal our scorer's on the responses it logged; returns that summary."""
    run = lmms_results.read_run(results_path)
    viubench = run.tasks["viubench"]
    named, responses = lmms_results.viubench_responses(viubench.samples_path)
    assert named == benchmark.resolve() and viubench.num_samples == 9
    ours = score_benchmark(load_benchmark(benchmark), responses)
    expected = {**ours["subtypes"], **ours["tasks"], "overall": ours["overall"]}
    assert viubench.metrics == pytest.approx(expected, abs=1e-9)
    return ours


@pytest.mark.slow
def test_the_videossr_model_answers_and_scores_as_eval_viubench(benchmark, tiny_model, tmp_path):
    python = lmms_eval_python()
    model = tiny_model("qwen3_vl")
    results_path, log = run_lmms_eval(
        python, benchmark, tmp_path / "lmms", "videossr", f"pretrained={model},device=cpu"
    )
    ours_summary, ours = our_run(benchmark, tmp_path / "ours", "--backend", "transformers", "--model", str(model),
                                 "--device", "cpu", "--batch-size", "4")  # fmt: skip
    _, logged = lmms_results.viubench_responses(lmms_results.read_run(results_path).tasks["viubench"].samples_path)
    # Same prompts, frames, clock and decoding: the same answer to every question.
    assert {i: e["response"] for i, e in logged.items()} == ours
    summary = check_metrics_are_our_scorer(results_path, benchmark)
    assert summary["overall"] == ours_summary["overall"]

    # Our report reads lmms-eval's folder beside our own run: the same Table 1 row.
    from videossr.report.eval_report import build_report

    document, stats = build_report([tmp_path / "ours", tmp_path / "lmms"], per_group=1)
    assert stats.num_runs == 2 and "(lmms-eval)" in document
    for name in subtypes():
        cells = re.findall(
            rf'id="viu-r[01]a?-{re.escape(name).replace("/", "-")}"[^>]*data-value="([0-9.]+)"', document
        )
        assert len(cells) == 2 and cells[0] == cells[1], name


@pytest.mark.slow
def test_the_random_baseline_scores_the_same_in_lmms_eval_and_in_eval_viubench(benchmark, tmp_path):
    python = lmms_eval_python()
    results_path, _ = run_lmms_eval(python, benchmark, tmp_path / "lmms", "videossr", "backend=random,seed=3")
    ours_summary, ours = our_run(benchmark, tmp_path / "ours", "--backend", "random", "--seed", "3")
    summary = check_metrics_are_our_scorer(results_path, benchmark)
    assert summary["overall"] > 0  # non-zero scores: an equality that could fail
    assert summary["subtypes"] == pytest.approx(ours_summary["subtypes"], abs=1e-9)
    _, logged = lmms_results.viubench_responses(lmms_results.read_run(results_path).tasks["viubench"].samples_path)
    assert {i: e["response"] for i, e in logged.items()} == ours


@pytest.mark.slow
def test_lmms_evals_own_qwen3_vl_wrapper_runs_the_task(benchmark, tiny_model, tmp_path):
    python = lmms_eval_python()
    model = tiny_model("qwen3_vl")
    args = f"pretrained={model},device=cpu,device_map=cpu,max_pixels=262144,min_pixels=16384,max_num_frames=48"
    results_path, log = run_lmms_eval(python, benchmark, tmp_path / "lmms", "qwen3_vl", args, batch_size=1, debug=True)
    assert "(chat)" in json.loads(results_path.read_text())["config"]["model_backend"]
    check_metrics_are_our_scorer(results_path, benchmark)
    # The wrapper logs each prompt it built (DEBUG): the eight jigsaw clips went in as eight videos,
    # each after its label, with the benchmark's question after them.
    video = "<|vision_start|><|video_pad|><|vision_end|>"
    record = next(r for r in load_benchmark(benchmark) if r["subtype"] == "jigsaw/8")
    prompts = [p for p in log.split("Question: ")[1:] if record["question"][:60] in p]
    assert prompts, log[-3000:]
    assert prompts[0].count(video) == 8 and all(f"Clip {k}: {video}" in prompts[0] for k in range(1, 9))
