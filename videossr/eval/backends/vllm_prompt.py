"""The vLLM prompt of one request, built exactly as training builds it (pure: no vLLM, no GPU).

:func:`prepare_vllm_prompt` is used by the engine (:mod:`videossr.eval.backends.vllm_engine`) and
by the rollout parity check; it is tested on CPU.

vLLM version and input format
-----------------------------
Written against vLLM 0.24.0 (the version ``verl[vllm]==0.9.1`` pins, with transformers 5.9.0), from
its source: ``vllm/entrypoints/llm.py``, ``vllm/entrypoints/offline_utils.py``,
``vllm/multimodal/parse.py``, ``vllm/multimodal/processing/processor.py``,
``vllm/multimodal/processing/context.py``, ``vllm/multimodal/media/video.py``,
``vllm/transformers_utils/processor.py``, ``vllm/model_executor/models/qwen2_vl.py``,
``qwen2_5_vl.py`` and ``qwen3_vl.py``.

Each prompt is a ``TokensPrompt`` dict ``{"prompt_token_ids", "prompt", "multi_modal_data": {"video":
[...]}, "mm_processor_kwargs"}`` (token ids: training's rollout prompt, see
:mod:`videossr.qwen_vl.video_prompt`; vLLM expands each video placeholder in them, so the prompt
the model reads is token-for-token the one the actor was trained on) and each video a ``(frames,
metadata)`` pair:

* ``frames``: ``np.ndarray`` ``[T, H, W, 3]`` ``uint8``, already at the training size. The float
  tensor qwen-vl-utils returns holds whole numbers (it resizes a ``uint8`` tensor and then casts),
  so the conversion is lossless; THWC ``uint8`` is what vLLM's own video loaders produce and is a
  quarter of the float32 bytes to pickle.
* ``metadata``: ``fps`` = the request's ``sample_fps``, ``frames_indices`` = ``0 .. T-1``,
  ``total_num_frames`` = ``T``, ``duration`` = ``T / fps``, ``video_backend`` and
  ``do_sample_frames=False``: the keys of vLLM's own pre-sampled-frames loader
  (``media/video.py``, the ``jpeg_sequence`` branch). These are the values qwen-vl-utils gives
  verl (``fps`` = ``raw_fps`` = ``sample_fps`` for a frame list), with ``total_num_frames`` an int.

Qwen3-VL (``qwen3_vl.py``, ``Qwen3VLMultiModalProcessor._call_hf_processor``): the data parser
keeps each item's metadata (``video_needs_metadata=True``); ``do_sample_frames`` comes from
``mm_processor_kwargs`` or else the item's metadata, so frames are never re-sampled; the
timestamps written before each frame pair are ``_calculate_timestamps(frames_indices,
metadata["fps"], temporal_patch_size)``, i.e. ``frames_indices[i] / fps`` averaged over each
temporal patch and printed as ``<{t:.1f} seconds>``, exactly what transformers' Qwen3VLProcessor
writes during training.

Qwen2.5-VL (``qwen2_vl.py`` / ``qwen2_5_vl.py``): vLLM 0.24's parser for this family drops the
metadata of ``(frames, metadata)`` items (``video_needs_metadata`` is False), and transformers 5
computes ``second_per_grid_ts`` from ``video_metadata.sampled_fps``; without metadata that falls
back to 24 fps, i.e. 2/24 s per temporal patch whatever the real rate (the bug fixed upstream by
vLLM PR #47736, after 0.24). So the metadata also goes in ``mm_processor_kwargs["video_metadata"]``
(forwarded verbatim to the HF processor call, ``processing/context.py`` ``call_hf_processor``; it
is a per-call ``videos_kwargs`` key, filtered out of processor construction in
``transformers_utils/processor.py``), giving ``second_per_grid_ts = temporal_patch_size /
sample_fps``: vLLM's M-RoPE then spaces temporal patch ``k`` at ``floor(k * second_per_grid_ts *
tokens_per_second)`` (``Qwen2_5_VLForConditionalGeneration.get_mrope_input_positions``), the
model's own time scale. That kwarg is a list over *all* videos of the prompt, while vLLM's
processor cache re-runs the HF processor on cache-missing videos only
(``_cached_apply_hf_processor``), which would misalign the list; so for this family the engine is
built with ``mm_processor_cache_gb=0`` (``vllm/multimodal/registry.py``: no cache, one HF call per
prompt). Training hands vLLM the same metadata through its agent loop and puts the actor's
rotary positions on the same clock (:mod:`videossr.qwen_vl.rope`). Qwen3-VL has none of this: its
time is the timestamp text in the prompt.

Both families: ``mm_processor_kwargs["do_sample_frames"] = False`` (no re-sampling). The HF video
processor still runs its ``smart_resize``; on frames that are already multiples of
``2 * patch_size`` and within the processor's pixel budget it keeps the size (the CPU tests check
the grid), and it is the very call verl makes in training, so frames match either way.
``limit_mm_per_prompt={"video": max_videos_per_prompt, "image": 0}`` (jigsaw prompts carry 6 or
8 clips); sampling is ``SamplingParams(temperature=0, max_tokens=max_new_tokens, seed=seed)``.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.util  # noqa: F401  (its atexit hook must be registered before ours)
from typing import Any

from videossr.eval.backends.base import Request, build_messages, vision_inputs
from videossr.qwen_vl.video_prompt import VIDEO_PLACEHOLDER, processor_family, rollout_prompt_ids

#: ``video_backend`` label of the metadata (informational: neither vLLM nor transformers read it).
VIDEO_BACKEND_LABEL = "qwen_vl_utils"
#: The vision placeholder Qwen chat templates emit for one video.
VIDEO_PLACEHOLDER_TOKENS = VIDEO_PLACEHOLDER
#: What can go wrong while preparing one request's inputs: placeholder/video mismatch, an invalid
#: size (ValueError), an unreadable or missing frame (OSError, incl. PIL.UnidentifiedImageError),
#: a frame of the wrong type (TypeError), a tensor op failing on a degenerate frame (RuntimeError).
INPUT_ERRORS = (ValueError, TypeError, OSError, RuntimeError)


# --------------------------------------------------------------------------------------------
# Input preparation (pure: no vLLM, no GPU)
# --------------------------------------------------------------------------------------------


def video_family(processor) -> str:
    """``"qwen3_vl"`` or ``"qwen2_5_vl"`` from the processor's classes (Qwen2-VL counts as the latter).

    Raises:
        ValueError: a processor of another model family ("unsupported processor ...").
    """
    return processor_family(processor)


def image_patch_size(processor) -> int:
    """The vision patch size (14 for Qwen2.5-VL, 16 for Qwen3-VL) that qwen-vl-utils resizes for."""
    return int(processor.image_processor.patch_size)


def prepare_vllm_prompt(request: Request, processor, patch_size: int | None = None) -> dict[str, Any]:
    """The vLLM ``TokensPrompt`` dict of ``request`` (format: see the module docstring).

    Returns ``{"prompt_token_ids": [...], "prompt": str}`` plus, when the request has videos,
    ``"multi_modal_data": {"video": [(frames uint8 [T,H,W,3], metadata), ...]}`` in placeholder
    order and ``"mm_processor_kwargs"``. The token ids are the chat-template text tokenised as it is,
    one vision placeholder per video: exactly what training hands vLLM
    (:func:`videossr.qwen_vl.video_prompt.rollout_prompt_ids`), so vLLM's expansion of it is
    token-for-token the prompt the actor was trained on. (A text prompt would be tokenised by vLLM
    the same way; the ids make that explicit and independent of vLLM's text path.) ``prompt`` is
    the same text, for logs.

    Raises:
        ValueError: the request's ``<video>`` placeholders do not match its videos, the chat
            template did not emit one vision placeholder per video, or the processor is not a
            Qwen2.5-VL / Qwen3-VL one; also qwen-vl-utils' own size errors.
        OSError: a frame file cannot be read.
    """
    import numpy as np
    import torch

    family = video_family(processor)
    patch_size = image_patch_size(processor) if patch_size is None else int(patch_size)
    messages = build_messages(request)
    prompt = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    placeholders = prompt.count(VIDEO_PLACEHOLDER_TOKENS)
    if placeholders != len(request.videos):
        raise ValueError(
            f"request {request.id}: the chat template wrote {placeholders} video placeholders "
            f"({VIDEO_PLACEHOLDER_TOKENS}) for {len(request.videos)} videos"
        )
    token_ids = rollout_prompt_ids(processor.tokenizer, prompt, len(request.videos))
    if not request.videos:
        return {"prompt_token_ids": token_ids, "prompt": prompt}

    _, videos = vision_inputs(messages, patch_size)
    if videos is None or len(videos) != len(request.videos):
        raise ValueError(
            f"request {request.id}: qwen-vl-utils returned {len(videos or [])} videos for {len(request.videos)}"
        )
    items = []
    for tensor, source in videos:
        # [T, C, H, W] float of whole numbers 0..255 -> [T, H, W, C] uint8 (lossless, see above).
        frames = np.ascontiguousarray(tensor.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy())
        fps = float(source["fps"])
        num_frames = int(frames.shape[0])
        metadata = {
            "fps": fps,
            "frames_indices": [int(i) for i in source["frames_indices"]],
            "total_num_frames": int(round(float(source.get("total_num_frames", num_frames)))),
            "duration": num_frames / fps,
            "video_backend": VIDEO_BACKEND_LABEL,
        }
        items.append((frames, metadata))

    mm_processor_kwargs: dict[str, Any] = {"do_sample_frames": False}
    if family == "qwen3_vl":
        # Qwen3-VL keeps per-item metadata; vLLM strips do_sample_frames before VideoMetadata(**...).
        for _, metadata in items:
            metadata["do_sample_frames"] = False
    else:
        # Qwen2.5-VL: vLLM 0.24 drops item metadata; the HF processor gets it through the kwargs.
        mm_processor_kwargs["video_metadata"] = [dict(metadata) for _, metadata in items]
    return {
        "prompt_token_ids": token_ids,
        "prompt": prompt,
        "multi_modal_data": {"video": items},
        "mm_processor_kwargs": mm_processor_kwargs,
    }
