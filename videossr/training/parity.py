"""Rollout/actor parity: does vLLM see the prompt the actor is trained on, video features included?

For one data row and one model, the check runs the real pieces of a verl 0.9.1 rollout, minus the
GPU work:

1. the row through verl's dataset class (``data.custom_cls`` or ``RLHFDataset``) and collate;
2. verl's ``AgentLoopWorker.generate_sequences`` with the agent loop the configuration selects
   (``actor_rollout_ref.rollout.agent.*``: train.sh's ``videossr_single_turn`` or verl's stock
   ``single_turn_agent``), which builds the prompt, calls the rollout server and post-processes
   the result into what the actor's forward pass gets: ``prompts`` / ``attention_mask`` and
   ``multi_modal_inputs`` (``video_grid_thw``, ``pixel_values_videos``);
3. in place of the Ray call to ``vLLMHttpServer.generate``, :class:`VLLMFrontEnd` applies what that
   method does to the request before the engine (``normalize_token_ids``,
   ``qwen2_5_vl_dedup_image_tokens``, a ``TokensPrompt`` of the ids, frames and processor kwargs) and
   hands it to vLLM's own ``InputPreprocessor`` built from the rollout config's engine arguments:
   vLLM's multimodal processor (pure CPU code, no engine) returns the prompt token ids after its
   prompt replacement, each video's placeholder range and its processed features.

Parity holds when the vLLM prompt ids equal the actor's prompt ids and, for every video, vLLM's
embedding positions equal the positions the Hugging Face model scatters that video's features into,
with the same ``video_grid_thw`` and the same pixel values. The generated response is a single
end-of-turn token: what the model would answer is not the question.

Usage (prints one line per task and model family; exit status 1 if any check fails)::

    python -m videossr.training.parity                               # tiny Qwen3-VL and Qwen2.5-VL, demo rows
    python -m videossr.training.parity --model /models/Qwen3-VL-8B-Instruct --data-dir outputs/videossr30k
    python -m videossr.training.parity actor_rollout_ref.rollout.agent.default_agent_loop=single_turn_agent

Extra arguments are verl overrides appended to train.sh's own (``PRINT_OVERRIDES=1 bash
train/train.sh``), so the check sees the configuration training would use. Needs verl and vLLM
importable (either the GPU stack of requirements-gpu.txt or vLLM's CPU build); without vLLM every
line says FAIL with the import error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
TRAIN_SH = REPO_ROOT / "train" / "train.sh"
#: The variant keys checked: one per distinct prompt shape (one video; 1, 6 and 8 video inputs).
PARITY_KEYS = ("grounding/channelswap", "counting/easy", "jigsaw/6", "jigsaw/8")
#: verl 0.9.1's own single-turn agent loop (the one with the Qwen3-VL bug).
STOCK_AGENT_LOOP = "single_turn_agent"


@dataclass
class ParityResult:
    """The outcome for one (task, model family) pair; ``detail`` explains a failure in one line."""

    task: str
    family: str
    ok: bool
    detail: str
    agent_loop: str = ""
    actor_tokens: int = 0
    vllm_tokens: int = 0
    num_videos: int = 0
    videos_misplaced: list[int] = field(default_factory=list)

    def line(self) -> str:
        prefix = "rollout parity" if self.agent_loop != STOCK_AGENT_LOOP else "rollout parity (verl's stock loop)"
        return f"{prefix}: {self.task} {self.family} {'ok' if self.ok else 'FAIL'} {self.detail}"


# --------------------------------------------------------------------------------------------
# The vLLM side: what vLLMHttpServer.generate hands the engine, through vLLM's own preprocessor
# --------------------------------------------------------------------------------------------


def build_vllm_preprocessor(config):
    """vLLM's ``InputPreprocessor`` for the rollout's model and engine arguments, on CPU.

    The engine arguments are the ones verl's ``vLLMHttpServer`` passes that shape inputs (model,
    ``trust_remote_code``, ``max_model_len``, ``limit_images``, ``engine_kwargs.vllm``); the device
    config is "cpu" because no engine is started (vLLM's processors run on CPU either way).
    """
    from omegaconf import OmegaConf
    from vllm.config import DeviceConfig, VllmConfig
    from vllm.engine.arg_utils import EngineArgs
    from vllm.inputs.preprocess import InputPreprocessor

    rollout, model = config.actor_rollout_ref.rollout, config.actor_rollout_ref.model
    engine_kwargs = OmegaConf.to_container(rollout.get("engine_kwargs", {}).get("vllm", {}) or {}, resolve=True)
    engine_kwargs = {k: v for k, v in engine_kwargs.items() if v is not None}
    if rollout.get("limit_images"):
        engine_kwargs["limit_mm_per_prompt"] = {"image": rollout.get("limit_images")}
    args = EngineArgs(
        model=str(model.path),
        trust_remote_code=bool(model.get("trust_remote_code", False)),
        max_model_len=int(rollout.max_model_len),
        **engine_kwargs,
    )
    model_config = args.create_model_config()
    return InputPreprocessor(VllmConfig(model_config=model_config, device_config=DeviceConfig(device="cpu")))


def _placeholder_positions(ranges) -> list[list[int]]:
    positions = []
    for item in ranges:
        mask = getattr(item, "is_embed", None)
        if mask is None:
            positions.append(list(range(item.offset, item.offset + item.length)))
        else:
            positions.append([item.offset + int(i) for i in mask.nonzero().flatten().tolist()])
    return positions


def _device_input_norm(model_config):
    """vLLM's own on-device pixel normalisation for this model, or None where vLLM has none.

    vLLM >= 0.28 defaults to ``mm_device_do_normalize`` for Qwen2-VL/Qwen2.5-VL: its processor
    output stays unnormalised (0..255) and the model normalises first thing
    (``FusedInputNorm.from_model_config``, applied in ``_process_video_input``). Applying that very
    module gives the features the vision tower sees.
    """
    try:
        from vllm.model_executor.models.vision import FusedInputNorm
    except ImportError:  # vLLM 0.24: normalised by the processor
        return None
    if not getattr(getattr(model_config, "multimodal_config", None), "mm_device_do_normalize", False):
        return None
    return FusedInputNorm.from_model_config(model_config)


def _video_items(mm_kwargs, input_norm, dtype) -> list[dict[str, Any]]:
    """vLLM's features per video as the vision tower gets them: ``video_grid_thw``, ``pixel_values_videos``."""
    items = []
    for item in mm_kwargs.get("video", []) if mm_kwargs is not None else []:
        item = item.get_data() if hasattr(item, "get_data") else {k: v.data for k, v in item.items()}
        item = {k: item[k] for k in ("video_grid_thw", "pixel_values_videos", "second_per_grid_ts") if k in item}
        if input_norm is not None and "pixel_values_videos" in item:
            item["pixel_values_videos"] = input_norm(item["pixel_values_videos"], dtype)
        items.append(item)
    return items


def _mrope_positions(model_config, prompt_ids: list[int], mm_kwargs, placeholders) -> list[list[int]] | None:
    """The (time, height, width) rotary positions vLLM's model gives ``prompt_ids``, or None (no M-RoPE).

    Runs the model class's own ``get_mrope_input_positions`` (what vLLM's model runner calls for
    each request) on the preprocessed videos, without building the model: it reads only the
    Hugging Face config.
    """
    from vllm.model_executor.model_loader.utils import get_model_architecture
    from vllm.multimodal.inputs import MultiModalFeatureSpec

    model_class, _ = get_model_architecture(model_config)
    if not hasattr(model_class, "get_mrope_input_positions"):
        return None
    model = model_class.__new__(model_class)  # no __init__: no weights, no torch.nn state
    object.__setattr__(model, "config", model_config.hf_config)
    items = list(mm_kwargs.get("video", [])) if mm_kwargs is not None else []
    features = [
        MultiModalFeatureSpec(data=item, modality="video", identifier=f"video-{k}", mm_position=placeholder)
        for k, (item, placeholder) in enumerate(zip(items, placeholders))
    ]
    positions, _ = model_class.get_mrope_input_positions(model, list(prompt_ids), features)
    return [[int(x) for x in row] for row in positions.tolist()]


def _verl_server_client_class():
    from verl.workers.rollout.llm_server import LLMServerClient

    class VLLMFrontEnd(LLMServerClient):
        """verl's server client with vLLM's front end in place of the Ray call to the server.

        Records, per request, what ``vLLMHttpServer.generate`` would give the engine after
        vLLM's preprocessing (or the error vLLM raised) and answers with one end-of-turn token.
        """

        def __init__(self, config, preprocessor, processor, eos_token_id: int):
            super().__init__(config=config, load_balancer_handle=None)
            self.preprocessor, self.processor, self.eos_token_id = preprocessor, processor, eos_token_id
            self.input_norm = _device_input_norm(preprocessor.model_config)
            self.requests: list[dict[str, Any]] = []

        async def generate(
            self,
            request_id,
            *,
            prompt_ids,
            sampling_params,
            image_data=None,
            video_data=None,
            audio_data=None,
            mm_processor_kwargs=None,
            **kwargs,
        ):
            from verl.utils.tokenizer import normalize_token_ids
            from verl.workers.rollout.replica import TokenOutput
            from verl.workers.rollout.utils import qwen2_5_vl_dedup_image_tokens
            from vllm.inputs import TokensPrompt

            # vLLMHttpServer.generate, verl 0.9.1 (vllm_async_server.py ~587-648), minus sampling.
            ids = qwen2_5_vl_dedup_image_tokens(normalize_token_ids(prompt_ids), self.processor)
            multi_modal_data = {}
            if image_data is not None:
                multi_modal_data["image"] = image_data
            if video_data is not None:
                multi_modal_data["video"] = video_data
            prompt_kwargs = {"prompt_token_ids": ids, "multi_modal_data": multi_modal_data}
            if mm_processor_kwargs:
                prompt_kwargs["mm_processor_kwargs"] = mm_processor_kwargs
            record: dict[str, Any] = {"sent_ids": list(prompt_ids)}
            try:
                processed = self.preprocessor.preprocess(TokensPrompt(**prompt_kwargs))
                record["vllm_ids"] = list(processed["prompt_token_ids"])
                placeholders = processed.get("mm_placeholders", {}).get("video", [])
                record["positions"] = _placeholder_positions(placeholders)
                record["mrope"] = _mrope_positions(
                    self.preprocessor.model_config, record["vllm_ids"], processed.get("mm_kwargs"), placeholders
                )
                record["videos"] = _video_items(
                    processed.get("mm_kwargs"), self.input_norm, self.preprocessor.model_config.dtype
                )
            except Exception as exc:  # noqa: BLE001 - whatever vLLM raises is the finding to report
                record["error"] = f"{type(exc).__name__}: {exc}".replace("\n", " ")
            self.requests.append(record)
            return TokenOutput(
                token_ids=[self.eos_token_id], log_probs=None, stop_reason="completed", extra_fields={"global_steps": 0}
            )

    return VLLMFrontEnd


# --------------------------------------------------------------------------------------------
# The actor side and the comparison
# --------------------------------------------------------------------------------------------


def _first_row_batch(config, data_file: Path, tokenizer, processor, scratch: Path):
    """verl's collated batch of the first row of ``data_file`` (copied alone into ``scratch``)."""
    import pyarrow.parquet as pq
    from omegaconf import OmegaConf, open_dict
    from verl.protocol import DataProto
    from verl.utils.dataset.rl_dataset import collate_fn, get_dataset_class

    first = scratch / f"first_row_{data_file.stem}.parquet"
    pq.write_table(pq.ParquetFile(data_file).read_row_group(0).slice(0, 1), first)
    data_config = OmegaConf.create(OmegaConf.to_container(config.data, resolve=True))
    with open_dict(data_config):
        data_config.filter_overlong_prompts = False  # one row; the dry run checks its length itself
        data_config.cache_dir = str(scratch / "verl_cache")
    dataset = get_dataset_class(data_config)(
        data_files=[str(first)], tokenizer=tokenizer, config=data_config, processor=processor
    )
    batch = DataProto.from_single_dict(collate_fn([dataset[0]]))
    batch.meta_info.update({"global_steps": 0, "validate": False})
    return batch


def _compare(task: str, family: str, request: dict[str, Any], output) -> ParityResult:
    import torch

    from videossr.qwen_vl.video_prompt import VideoLayout, video_feature_positions

    prompts = output.batch["prompts"][0]
    mask = output.batch["attention_mask"][0, : prompts.shape[0]].bool()
    actor_ids = prompts[mask].tolist()
    inputs = output.non_tensor_batch["multi_modal_inputs"][0]
    grids = [tuple(int(x) for x in row) for row in inputs["video_grid_thw"].tolist()]
    result = ParityResult(task, family, False, "", actor_tokens=len(actor_ids), num_videos=len(grids))
    if "error" in request:
        result.detail = (
            f"vLLM rejects the rollout prompt ({len(request['sent_ids'])} ids sent): {request['error'][:300]}"
        )
        return result
    vllm_ids = request["vllm_ids"]
    result.vllm_tokens = len(vllm_ids)
    pad_id = int(output.meta_info["video_token_id"])
    merge = int(output.meta_info["merge_size"])
    actor_positions = video_feature_positions(actor_ids, pad_id, [VideoLayout(g) for g in grids], merge)
    vllm_positions = request["positions"]
    problems = []
    if vllm_ids != actor_ids:
        first = next(
            (i for i, (a, b) in enumerate(zip(vllm_ids, actor_ids)) if a != b), min(len(vllm_ids), len(actor_ids))
        )
        problems.append(f"vLLM prompt {len(vllm_ids)} tokens vs actor {len(actor_ids)} (first difference at {first})")
    vllm_videos = request["videos"]
    if len(vllm_positions) != len(grids) or len(vllm_videos) != len(grids):
        problems.append(f"vLLM has {len(vllm_positions)} video placeholders for {len(grids)} videos")
    pixels = inputs["pixel_values_videos"]
    offset = 0
    for k, grid in enumerate(grids):
        size = grid[0] * grid[1] * grid[2]
        actor_pixels, offset = pixels[offset : offset + size], offset + size
        if k >= len(vllm_positions) or k >= len(vllm_videos):
            result.videos_misplaced.append(k + 1)
            continue
        theirs = vllm_videos[k]
        same_grid = tuple(int(x) for x in theirs["video_grid_thw"].tolist()) == grid
        # vLLM holds features in the model dtype (bf16 here): equal up to that dtype's rounding.
        vllm_pixels = theirs["pixel_values_videos"].float()
        same_pixels = (
            same_grid
            and vllm_pixels.shape == actor_pixels.shape
            and torch.allclose(
                actor_pixels.to(theirs["pixel_values_videos"].dtype).float(), vllm_pixels, rtol=2**-7, atol=2**-7
            )
        )
        if vllm_positions[k] != actor_positions[k] or not same_pixels:
            result.videos_misplaced.append(k + 1)
    if result.videos_misplaced:
        actor_slots = [f"{p[0]}..{p[-1]}" if p else "-" for p in actor_positions]
        vllm_slots = [f"{p[0]}..{p[-1]}" if p else "-" for p in vllm_positions]
        problems.append(
            f"videos {result.videos_misplaced} of {len(grids)} have features elsewhere than the actor's "
            f"(vLLM {vllm_slots[:3]}{'...' if len(vllm_slots) > 3 else ''} vs actor "
            f"{actor_slots[:3]}{'...' if len(actor_slots) > 3 else ''})"
        )
    problems += _clock_problems(inputs, vllm_videos)
    problems += _rotary_problems(output, mask, request.get("mrope"))
    if problems:
        result.detail = "; ".join(problems)
        return result
    result.ok = True
    result.detail = (
        f"{len(actor_ids)} prompt tokens, {len(grids)} video(s), every video's features at the actor's "
        f"{sum(len(p) for p in actor_positions)} positions, the same M-RoPE positions{_clock_shown(inputs)}"
    )
    return result


def _clock_problems(inputs, vllm_videos) -> list[str]:
    """Qwen2.5-VL: each video's seconds per temporal patch, vLLM's against the actor's processor's.

    The value scales the video's rotary time positions; vLLM 0.24/0.28 fall back to 2/24 s unless
    the agent loop hands them the videos' metadata (:mod:`videossr.qwen_vl.rope`). vLLM holds it in
    the model's dtype, so the actor's value is compared rounded to that dtype.
    """
    if "second_per_grid_ts" not in inputs:
        return []
    actor = inputs["second_per_grid_ts"].flatten()
    problems = []
    for k, video in enumerate(vllm_videos):
        theirs = video.get("second_per_grid_ts")
        ours = actor[k] if k < actor.numel() else None
        if theirs is None or ours is None or ours.to(theirs.dtype).item() != theirs.flatten()[0].item():
            shown = "none" if theirs is None else f"{theirs.flatten()[0].item():.4g}"
            mine = "none" if ours is None else f"{ours.item():.4g}"
            problems.append((k + 1, shown, mine))
    if not problems:
        return []
    _, shown, mine = problems[0]
    return [f"videos {[p[0] for p in problems]} M-RoPE s per temporal patch: vLLM {shown} vs actor {mine}"]


def _clock_shown(inputs) -> str:
    if "second_per_grid_ts" not in inputs:
        return ""
    seconds = sorted({round(float(x), 4) for x in inputs["second_per_grid_ts"].flatten().tolist()})
    return f" ({'/'.join(f'{s:g}' for s in seconds)} s per temporal patch on both sides)"


def _rotary_problems(output, mask, vllm_positions: list[list[int]] | None) -> list[str]:
    """The actor's (time, height, width) position ids of the prompt against vLLM's, token by token."""
    if vllm_positions is None or "position_ids" not in output.batch.keys():
        return []
    position_ids = output.batch["position_ids"][0]
    if position_ids.dim() != 2 or position_ids.shape[0] < 3:
        return []
    # verl stacks a text row over the three M-RoPE rows: (4, length); the prompt is left-padded.
    actor = position_ids[-3:, : mask.shape[0]][:, mask].tolist()
    if actor == vllm_positions:
        return []
    length = min(len(actor[0]), len(vllm_positions[0]))
    first = next((i for i in range(length) if [row[i] for row in actor] != [row[i] for row in vllm_positions]), length)
    at = lambda rows: [row[first] for row in rows] if first < len(rows[0]) else "-"  # noqa: E731
    return [f"M-RoPE positions differ from token {first} (vLLM {at(vllm_positions)} vs actor {at(actor)})"]


def _eval_request(row: dict[str, Any]):
    """The evaluation :class:`~videossr.eval.backends.base.Request` of a training row (same text, frames)."""
    from videossr.eval.backends.base import request_of_row

    return request_of_row(row, "parity")


def eval_prompt_ids(preprocessor, processor, row: dict[str, Any]) -> list[int]:
    """The prompt ids vLLM reads for ``row`` in evaluation (``prepare_vllm_prompt``, then vLLM's processor)."""
    from vllm.inputs import TokensPrompt

    from videossr.eval.backends.vllm_prompt import prepare_vllm_prompt

    prompt = prepare_vllm_prompt(_eval_request(row), processor)
    return list(preprocessor.preprocess(TokensPrompt(**prompt))["prompt_token_ids"])


def check_parity(config, data_file: str | Path, task: str, preprocessor=None) -> ParityResult:
    """Parity of the first row of ``data_file`` under the composed verl ``config`` (see module doc).

    ``preprocessor``: a :func:`build_vllm_preprocessor` result to reuse across files of one model.
    Never raises for a parity problem (it is in the result); configuration errors do raise.
    """
    from verl.experimental.agent_loop.agent_loop import AgentLoopWorker
    from verl.utils.config import omega_conf_to_dataclass

    from videossr.qwen_vl.video_prompt import processor_family

    preprocessor = preprocessor if preprocessor is not None else build_vllm_preprocessor(config)
    # The same tokenizer/processor the worker loads (HFModelConfig); the client needs them first.
    model_config = omega_conf_to_dataclass(config.actor_rollout_ref.model)
    tokenizer, processor = model_config.tokenizer, model_config.processor
    family = processor_family(processor)
    client = _verl_server_client_class()(config, preprocessor, processor, eos_token_id=int(tokenizer.eos_token_id))
    worker = AgentLoopWorker(config, llm_client=client)
    with tempfile.TemporaryDirectory(prefix="videossr-parity-row-") as scratch:
        batch = _first_row_batch(config, Path(data_file), tokenizer, processor, Path(scratch))
    output = asyncio.run(worker.generate_sequences(batch))
    output.meta_info["video_token_id"] = processor.video_token_id
    output.meta_info["merge_size"] = processor.video_processor.merge_size
    loop = str(config.actor_rollout_ref.rollout.agent.default_agent_loop)
    if len(client.requests) != 1:
        return ParityResult(
            task, family, False, f"the agent loop made {len(client.requests)} rollout requests, not 1", loop
        )
    result = _compare(task, family, client.requests[0], output)
    result.agent_loop = loop
    if loop == STOCK_AGENT_LOOP:
        return result
    # Evaluation must read the very prompt training used (vLLM eval backend, same row).
    import pyarrow.parquet as pq

    row = pq.ParquetFile(data_file).read_row_group(0).slice(0, 1).to_pylist()[0]
    prompts = output.batch["prompts"][0]
    actor_ids = prompts[output.batch["attention_mask"][0, : prompts.shape[0]].bool()].tolist()
    try:
        evaluated = eval_prompt_ids(preprocessor, processor, row)
    except Exception as exc:  # noqa: BLE001 - reported, like the rollout's errors
        evaluated, reason = None, f"{type(exc).__name__}: {exc}"
    if evaluated == actor_ids:
        result.detail += "; eval prompt identical"
    else:
        result.ok = False
        why = reason if evaluated is None else f"{len(evaluated)} tokens vs {len(actor_ids)}"
        result.detail += f"; eval prompt differs from training ({why})"
    return result


# --------------------------------------------------------------------------------------------
# Inputs: train.sh's overrides, demo rows, tiny models
# --------------------------------------------------------------------------------------------


def train_sh_overrides(
    model_path: str | Path, train_files: list[Path], extra: list[str] = (), python: str | None = None
) -> list[str]:
    """The verl overrides ``train/train.sh`` composes for ``model_path`` and ``train_files`` (+ ``extra``)."""
    env = {
        **os.environ,
        "PRINT_OVERRIDES": "1",
        "MODEL_PATH": str(model_path),
        "PYTHON": python or sys.executable,
        "TRAIN_FILES": " ".join(str(f) for f in train_files),
        "VAL_FILE": str(train_files[0]),
    }
    env.pop("MODEL_FAMILY", None)
    done = subprocess.run(["bash", str(TRAIN_SH), *extra], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"train.sh refused the configuration: {done.stderr.strip()[-500:]}")
    return done.stdout.splitlines()


def build_parity_data(output_dir: str | Path, video_dir: str | Path | None = None) -> dict[str, Path]:
    """One row per parity task (grounding ChannelSwap, counting easy, jigsaw 6 and 8) from one video.

    Frames are sampled from the first video of ``video_dir`` (default: the bundled ``data/videos``)
    into ``output_dir/frames``; data files go to ``output_dir``. Returns ``{variant key: parquet}``.
    """
    from videossr.data.generation import GenerationSettings, generate_files
    from videossr.frames.build import FrameSamplingConfig, run_frame_sampling
    from videossr.frames.folder import load_index
    from videossr.tasks.registry import spec_of

    output_dir = Path(output_dir)
    frames = output_dir / "frames"
    video_dir = Path(video_dir) if video_dir else REPO_ROOT / "data" / "videos"
    first = sorted(p for p in video_dir.iterdir() if p.suffix.lower() in {".mp4", ".mkv", ".webm", ".avi", ".mov"})[:1]
    if not first:
        raise FileNotFoundError(f"no video in {video_dir}")
    listing = output_dir / "videos.txt"
    output_dir.mkdir(parents=True, exist_ok=True)
    listing.write_text(f"{first[0]}\n")
    run_frame_sampling(FrameSamplingConfig(output_dir=frames, video_list=listing, workers=1))
    ids = [record["video_id"] for record in load_index(frames)][:1]
    specs = [spec_of(key) for key in PARITY_KEYS]
    generate_files(frames, output_dir / "data", [(spec, ids) for spec in specs], GenerationSettings(seed=0), workers=1)
    return {spec.key: spec.data_file(output_dir / "data") for spec in specs}


def default_models() -> list[Path]:
    """The tiny offline checkpoints of both families, built per transformers version (they differ)."""
    import transformers

    from videossr.testing.tiny_models import FAMILIES, tiny_model_dir

    root = REPO_ROOT / "outputs" / "tiny_models" / f"transformers-{transformers.__version__}"
    return [tiny_model_dir(family, root) for family in sorted(FAMILIES, reverse=True)]


def run_parity(
    models: list[Path], files: dict[str, Path], extra_overrides: list[str] = (), *, stock: bool = False
) -> list[ParityResult]:
    """Every (task, model) pair under train.sh's configuration plus ``extra_overrides``.

    ``stock``: also run every pair with verl's own ``single_turn_agent`` (results after the others).
    """
    from videossr.training.recipe import compose_config

    results, stock_results = [], []
    for model in models:
        overrides = train_sh_overrides(model, list(files.values())) + list(extra_overrides)
        config = compose_config(overrides)
        stock_config = compose_config(
            overrides + [f"actor_rollout_ref.rollout.agent.default_agent_loop={STOCK_AGENT_LOOP}"]
        )
        try:
            preprocessor = build_vllm_preprocessor(config)
        except Exception as exc:  # noqa: BLE001 - an unusable vLLM fails every pair, with its reason
            reason = f"vLLM's processor cannot be built: {type(exc).__name__}: {exc}".replace("\n", " ")[:300]
            family = json.loads((Path(model) / "config.json").read_text()).get("model_type", "?")
            results += [ParityResult(task, family, False, reason) for task in files]
            continue
        for task, data_file in files.items():
            results.append(check_parity(config, data_file, task, preprocessor))
            if stock:
                stock_results.append(check_parity(stock_config, data_file, task, preprocessor))
    return results + stock_results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m videossr.training.parity", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", action="append", type=Path, help="model folder (repeatable; default: both tiny models)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help=f"data folder with any of {', '.join(f'{key}.parquet' for key in PARITY_KEYS)} "
        "(default: all four, made from data/videos in a temporary folder)",
    )
    parser.add_argument("--task", action="append", choices=PARITY_KEYS, help="only these variant keys (repeatable)")
    parser.add_argument(
        "--stock",
        action="store_true",
        help="also check verl's stock agent loop (expected to FAIL for Qwen3-VL; does not change the exit status)",
    )
    parser.add_argument("--json", action="store_true", help="also print all results as one JSON line at the end")
    parser.add_argument("overrides", nargs="*", help="verl overrides appended to train.sh's")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # vLLM logs to stdout; keep the result lines readable
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    with tempfile.TemporaryDirectory(prefix="videossr-parity-") as scratch:
        if args.data_dir:
            # Whichever of the task files the folder has (a training mix has no jigsaw8).
            files = {
                key: args.data_dir / f"{key}.parquet"
                for key in PARITY_KEYS
                if (args.data_dir / f"{key}.parquet").is_file()
            }
            if not files:
                print(
                    f"parity: error: {args.data_dir} holds none of {[f'{key}.parquet' for key in PARITY_KEYS]}",
                    file=sys.stderr,
                )
                return 2
        else:
            files = build_parity_data(scratch)
        if args.task:
            files = {task: path for task, path in files.items() if task in args.task}
        results = run_parity(args.model or default_models(), files, args.overrides, stock=args.stock)
    for result in results:
        print(result.line())
    if args.json:
        print("parity json: " + json.dumps([asdict(r) for r in results]))
    checked = [r for r in results if r.agent_loop != STOCK_AGENT_LOOP or not args.stock]
    return 0 if checked and all(r.ok for r in checked) else 1


if __name__ == "__main__":
    sys.exit(main())
