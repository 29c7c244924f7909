"""Qwen2.5-VL's M-RoPE positions on the model's own clock, the same on the rollout and the actor.

Qwen2.5-VL gives each temporal patch of a video the rotary time position
``floor(k * second_per_grid_t * tokens_per_second)`` (``k`` = patch index, ``second_per_grid_t`` =
seconds one patch spans = ``temporal_patch_size / fps``), so the model knows how far apart its
frames are in seconds. Three pieces of the stack disagreed about that clock (verl 0.9.1,
transformers 5.9/5.10, vLLM 0.24/0.28; docs/training.md, "Rollouts see what the actor trains on"):

* **vLLM** drops the per-video metadata of ``(frames, metadata)`` inputs for this family, so its
  processor falls back to 24 fps: 2/24 s per patch whatever the video's frame rate. Fixed in our
  agent loop by handing the metadata to vLLM's processor per request
  (:func:`rollout_mm_processor_kwargs`).
* **verl's agent loop** computes the actor's position ids with the processor-bound
  ``get_rope_index`` and passes it no ``second_per_grid_ts``: 1 s per patch.
* **transformers 5.x**'s ``Qwen2_5_VLModel.get_rope_index`` truncates ``int(second_per_grid_t)``
  (0.16 s becomes 0: every patch at one time position) and starts the text after a video at
  ``max(h, w) / merge`` past the video's start instead of one past its largest position.

:func:`qwen2_5_vl_position_ids` is the model's definition as released (transformers 4.5x, which
Qwen2.5-VL was published with) and exactly what vLLM's ``get_mrope_input_positions`` computes, to
the float: the product is taken in double precision from the seconds as vLLM holds them, and
floored. vLLM casts every floating processor output to the model's dtype
(``vllm/multimodal/processing/context.py`` ``_postprocess_output``), so its rollouts run on the
seconds rounded to bf16 (0.16 s becomes 0.16015625 s, which moves patch 25 of a 12.5 fps video from
time 7 to 8); :func:`use_model_clock` rounds the actor's seconds the same way and binds the rule to
verl's processor object, so the actor's position ids are the rollout's to the token.

Qwen3-VL needs none of this: it writes each patch's time into the text as ``<t seconds>`` tokens,
and its rotary positions already agree (the parity check compares them for both families).
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from typing import Any

import numpy as np


def is_qwen2_5_vl(processor) -> bool:
    """True for a Qwen2.5-VL processor (not Qwen2-VL, which has no time scale, nor Qwen3-VL)."""
    return type(processor).__name__.startswith("Qwen2_5_VL")


def _time_factor(second_per_grid_t: Any, tokens_per_second: float) -> float:
    """Rotary time steps per temporal patch, as vLLM computes it (a 0 or missing time is 1 s)."""
    seconds = float(second_per_grid_t) if second_per_grid_t is not None else 0.0
    return (seconds or 1.0) * float(tokens_per_second)


def qwen2_5_vl_position_ids(
    input_ids: Sequence[int],
    *,
    image_token_id: int,
    video_token_id: int,
    image_grid_thw: Sequence[Sequence[int]] = (),
    video_grid_thw: Sequence[Sequence[int]] = (),
    second_per_grid_ts: Sequence[float] | None = None,
    tokens_per_second: float,
    spatial_merge_size: int,
) -> np.ndarray:
    """M-RoPE positions ``(3, len(input_ids))`` (time, height, width) of one unpadded prompt.

    Each run of ``video_token_id`` (``image_token_id``) tokens is the next video (image) in order
    and must hold exactly ``t*h*w/merge²`` tokens of its grid row. A video's patches get time
    positions ``floor(k * second_per_grid_ts[i] * tokens_per_second)``; an image's is 0. Text
    tokens count on from one past the largest position so far, on all three axes.

    Raises:
        ValueError: the runs of vision tokens do not match the grids.
    """
    ids = np.asarray(input_ids, dtype=np.int64)
    grids = {
        int(image_token_id): [tuple(int(x) for x in g) for g in image_grid_thw],
        int(video_token_id): [tuple(int(x) for x in g) for g in video_grid_thw],
    }
    used = {int(image_token_id): 0, int(video_token_id): 0}
    seconds = list(second_per_grid_ts) if second_per_grid_ts is not None else []
    pieces: list[np.ndarray] = []
    next_position = 0
    i = 0
    while i < len(ids):
        token = int(ids[i])
        if token not in grids:
            j = i
            while j < len(ids) and int(ids[j]) not in grids:
                j += 1
            pieces.append(np.broadcast_to(np.arange(j - i), (3, j - i)) + next_position)
            next_position += j - i
            i = j
            continue
        index = used[token]
        if index >= len(grids[token]):
            kind = "video" if token == video_token_id else "image"
            raise ValueError(f"more {kind} token runs than {kind} grids ({len(grids[token])})")
        t, h, w = grids[token][index]
        used[token] += 1
        h, w = h // spatial_merge_size, w // spatial_merge_size
        size = t * h * w
        if not np.all(ids[i : i + size] == token) or (i + size < len(ids) and int(ids[i + size]) == token):
            raise ValueError(f"a vision token run at {i} does not hold the {size} tokens of grid {(t, h, w)}")
        grid = np.indices((t, h, w))
        if token == video_token_id:
            factor = _time_factor(seconds[index] if index < len(seconds) else None, tokens_per_second)
            if factor != 1.0:
                grid[0] = (grid[0] * factor).astype(np.int64)
        else:
            grid[0] = 0
        block = grid.reshape(3, -1) + next_position
        pieces.append(block)
        next_position = int(block.max()) + 1
        i += size
    for token, grid_rows in grids.items():
        if used[token] != len(grid_rows):
            raise ValueError(f"{len(grid_rows)} grids but {used[token]} runs of token {token}")
    if not pieces:
        return np.zeros((3, 0), dtype=np.int64)
    return np.concatenate(pieces, axis=1).astype(np.int64)


def _get_rope_index(
    processor,
    input_ids=None,
    image_grid_thw=None,
    video_grid_thw=None,
    attention_mask=None,
    second_per_grid_ts=None,
    **_ignored,
):
    """``get_rope_index`` with transformers' signature and return value, on the model's clock.

    ``input_ids`` ``(batch, length)``; returns ``(position_ids (3, batch, length), deltas (batch, 1))``
    with the masked-out tokens at 0. The grids and seconds are those of the whole batch, in order.
    """
    import torch

    config = processor.config.vision_config
    position_ids = torch.zeros((3, *input_ids.shape), dtype=torch.long)
    deltas = []
    images = image_grid_thw.tolist() if image_grid_thw is not None else []
    videos = video_grid_thw.tolist() if video_grid_thw is not None else []
    seconds = second_per_grid_ts.tolist() if torch.is_tensor(second_per_grid_ts) else second_per_grid_ts
    seconds = list(seconds) if seconds is not None else None
    for row in range(input_ids.shape[0]):
        keep = (
            attention_mask[row].bool()
            if attention_mask is not None
            else torch.ones_like(input_ids[row], dtype=torch.bool)
        )
        ids = input_ids[row][keep].tolist()
        n_images = _runs(ids, processor.image_token_id)
        n_videos = _runs(ids, processor.video_token_id)
        positions = qwen2_5_vl_position_ids(
            ids,
            image_token_id=processor.image_token_id,
            video_token_id=processor.video_token_id,
            image_grid_thw=images[:n_images],
            video_grid_thw=videos[:n_videos],
            second_per_grid_ts=seconds[:n_videos] if seconds is not None else None,
            tokens_per_second=config.tokens_per_second,
            spatial_merge_size=config.spatial_merge_size,
        )
        images, videos = images[n_images:], videos[n_videos:]
        seconds = seconds[n_videos:] if seconds is not None else None
        position_ids[:, row, keep] = torch.from_numpy(positions)
        deltas.append(int(positions.max()) + 1 - len(ids) if len(ids) else 0)
    return position_ids, torch.tensor(deltas, dtype=torch.long).unsqueeze(1)


def _runs(ids: list[int], token: int) -> int:
    """How many maximal runs of ``token`` ``ids`` holds."""
    return sum(1 for k, t in enumerate(ids) if t == token and (k == 0 or ids[k - 1] != token))


def use_model_clock(processor, rollout_dtype: str | None = "bfloat16") -> bool:
    """Bind :func:`qwen2_5_vl_position_ids` to verl's ``processor`` for the actor's position ids.

    verl binds the model's ``get_rope_index`` to the processor object its agent-loop worker shares
    with every agent loop (``verl/utils/tokenizer/tokenizer.py``) and calls
    ``processor.get_rope_index_kwargs(multi_modal_inputs)``, when present, for extra inputs
    (``AgentLoopWorker._compute_position_ids``): this sets both, so each video's own
    ``second_per_grid_ts``, rounded to ``rollout_dtype`` (the rollout config's ``dtype``, as vLLM
    rounds it; ``"auto"`` or None: the checkpoint's dtype), reaches a position rule equal to
    vLLM's. Returns False (and changes nothing) for a processor of another family. Idempotent.
    """
    if not is_qwen2_5_vl(processor) or getattr(processor, "config", None) is None:
        return False
    dtype = seconds_dtype(processor.config, rollout_dtype)
    processor.get_rope_index = types.MethodType(_get_rope_index, processor)
    processor.get_rope_index_kwargs = lambda inputs: {
        "second_per_grid_ts": _rounded(inputs.get("second_per_grid_ts"), dtype)
    }
    return True


def seconds_dtype(config, rollout_dtype: str | None):
    """The torch dtype vLLM holds ``second_per_grid_ts`` in: the rollout's dtype, else the checkpoint's."""
    import torch

    for name in (rollout_dtype, getattr(config, "dtype", None), getattr(config, "torch_dtype", None)):
        name = str(name).removeprefix("torch.") if name is not None else ""
        if isinstance(getattr(torch, name, None), torch.dtype) and getattr(torch, name).is_floating_point:
            return getattr(torch, name)
    return torch.float32


def _rounded(seconds, dtype):
    import torch

    if seconds is None:
        return None
    return torch.as_tensor(seconds).to(dtype)


def rollout_mm_processor_kwargs(processor, videos: Sequence[Any] | None) -> dict[str, Any]:
    """vLLM processor arguments that keep each Qwen2.5-VL video's frame rate (else ``{}``).

    ``videos`` are qwen-vl-utils' ``(frames, metadata)`` pairs, as verl's agent loop hands them to
    the server. vLLM's Qwen2.5-VL data parser keeps the frames and drops the metadata; given back
    through ``mm_processor_kwargs`` (with ``do_sample_frames=False``: the frames are already the
    sampled ones), the processor computes ``second_per_grid_ts = temporal_patch_size / fps`` from
    the video's own ``fps``, as the actor's processor does.
    """
    if not is_qwen2_5_vl(processor) or not videos:
        return {}
    metadata = [video[1] if isinstance(video, tuple | list) and len(video) == 2 else None for video in videos]
    if any(item is None for item in metadata):
        return {}
    return {"video_metadata": metadata, "do_sample_frames": False}
