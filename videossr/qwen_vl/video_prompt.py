"""Token ids of a Qwen-VL video prompt: what vLLM is given, and what it (and the actor) then sees.

This module owns one rule, shared by training (:mod:`videossr.training.agent_loop`) and vLLM
evaluation (:func:`videossr.eval.backends.vllm_prompt.prepare_vllm_prompt`) so the two cannot drift
apart:

* the **rollout prompt** is the chat-template text tokenised as it is, with one vision placeholder
  ``<|vision_start|><|video_pad|><|vision_end|>`` per video (:func:`rollout_prompt_ids`). vLLM's
  multimodal processor expands each placeholder itself, one per video, in order;
* the **expanded prompt** is that rollout prompt with every placeholder expanded the way vLLM's
  processor expands it (:func:`expand_video_placeholders`), and it is the prompt the actor is
  trained on, so rollout and actor see the same token ids with each video's features in the same
  positions.

Why not the Hugging Face processor's own ids for the actor? For Qwen3-VL the processor expands
the placeholder in the *text* (``<t seconds><|vision_start|><|video_pad|>×k<|vision_end|>`` per
2-frame patch) and tokenises afterwards, so the first ``<`` of a clip's first timestamp merges with
a preceding space (``Clip 1: <0.0 seconds>`` gives the token ``' <'``). vLLM expands token ids and
encodes each timestamp apart (``' '``, ``'<'``), and no token prompt can make it produce ``' <'``:
with transformers 5.9 (the GPU pin) the two differ by one token per clip of a jigsaw prompt. The
expanded prompt here is vLLM's form; it differs from the processor's only in that split, never in
the vision tokens or their counts.

Expansion per family (``t, h, w`` = a video's ``video_grid_thw`` row, ``m`` = spatial merge size):

* Qwen2-VL / Qwen2.5-VL: the ``<|video_pad|>`` becomes ``t*h*w/m²`` pads (vision start/end stay).
* Qwen3-VL, transformers < 5.10 (processor replaces the whole placeholder; vLLM 0.24 targets the
  triplet): the triplet becomes, for each temporal patch ``i``, ``encode("<{ts_i:.1f} seconds>") +
  [vision_start] + [video_pad]*(h*w/m²) + [vision_end]``.
* Qwen3-VL, transformers >= 5.10 (``Qwen3VLProcessor.replace_video_token`` exists: only the bare
  pad is replaced and the outer start/end are kept; vLLM >= 0.28 follows it): the pad becomes that
  same sequence.

Timestamps (seconds, on the model's clock) are the processor's own
``_calculate_timestamps(frames_indices, fps, temporal_patch_size)``: each patch's mean frame time.

Pure functions of token ids and processor attributes; no vLLM, no video decoding.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

#: The vision placeholder Qwen chat templates emit for one video.
VIDEO_PLACEHOLDER = "<|vision_start|><|video_pad|><|vision_end|>"
#: Hugging Face ``model_type`` values and the family whose expansion rule they follow.
FAMILY_OF_MODEL_TYPE = {
    "qwen3_vl": "qwen3_vl",
    "qwen3_vl_moe": "qwen3_vl",
    "qwen2_5_vl": "qwen2_5_vl",
    "qwen2_vl": "qwen2_5_vl",
}


@dataclass(frozen=True)
class VisionTokenIds:
    """The ids of a Qwen-VL tokenizer's vision tokens."""

    vision_start: int
    vision_end: int
    video_pad: int

    @staticmethod
    def of(tokenizer) -> VisionTokenIds:
        ids = [tokenizer.convert_tokens_to_ids(t) for t in ("<|vision_start|>", "<|vision_end|>", "<|video_pad|>")]
        unknown = getattr(tokenizer, "unk_token_id", None)
        if any(i is None or i == unknown for i in ids):
            raise ValueError(f"the tokenizer lacks Qwen-VL vision tokens ({VIDEO_PLACEHOLDER})")
        return VisionTokenIds(*ids)


@dataclass(frozen=True)
class VideoLayout:
    """What one video contributes to a prompt.

    ``grid_thw``: its ``video_grid_thw`` row (temporal patches, patch rows, patch columns, before
    the spatial merge). ``timestamps_s``: Qwen3-VL only, one per temporal patch, in seconds.
    """

    grid_thw: tuple[int, int, int]
    timestamps_s: tuple[float, ...] | None = None


def processor_family(processor) -> str:
    """``"qwen3_vl"`` or ``"qwen2_5_vl"`` (also Qwen2-VL) from the processor's class names.

    Raises:
        ValueError: a processor of another model family.
    """
    names = [type(processor).__name__, type(getattr(processor, "video_processor", None)).__name__]
    if any(name.startswith("Qwen3VL") for name in names):
        return "qwen3_vl"
    if any(name.startswith(("Qwen2_5_VL", "Qwen2VL")) for name in names):
        return "qwen2_5_vl"
    raise ValueError(f"unsupported processor {names[0]}: VideoSSR handles Qwen2.5-VL and Qwen3-VL")


def expands_only_the_pad(processor) -> bool:
    """True when the Qwen3-VL processor replaces only ``<|video_pad|>`` (transformers >= 5.10).

    transformers 5.10 moved the expansion into ``replace_video_token``, which keeps the outer
    ``<|vision_start|>``/``<|vision_end|>``; 5.9 replaced the whole placeholder. vLLM 0.28 chooses
    its prompt-update target by the very same test (``Qwen3VLMultiModalProcessor.
    _expands_only_video_token``), so a prompt expanded here matches the vLLM of that stack.
    """
    from transformers.processing_utils import ProcessorMixin

    own = getattr(type(processor), "replace_video_token", None)
    return own is not None and own is not getattr(ProcessorMixin, "replace_video_token", None)


def video_layouts(processor, video_grid_thw, videos: Sequence[Any] | None) -> list[VideoLayout]:
    """Each video's :class:`VideoLayout` from the processor output and qwen-vl-utils' videos.

    Args:
        video_grid_thw: the processor's ``video_grid_thw`` (tensor or nested list, one row per video).
        videos: qwen-vl-utils' ``(frames, metadata)`` pairs (metadata: ``fps``, ``frames_indices``),
            needed for Qwen3-VL's timestamps; ignored for Qwen2.5-VL.

    Raises:
        ValueError: row and video counts differ, or a Qwen3-VL video lacks ``fps``/``frames_indices``.
    """
    grids = [
        tuple(int(x) for x in row)
        for row in (video_grid_thw.tolist() if hasattr(video_grid_thw, "tolist") else video_grid_thw)
    ]
    if processor_family(processor) != "qwen3_vl":
        return [VideoLayout(grid) for grid in grids]
    if videos is None or len(videos) != len(grids):
        raise ValueError(f"{len(grids)} video grids but {len(videos or [])} videos")
    temporal_patch = int(processor.video_processor.temporal_patch_size)
    layouts = []
    for grid, video in zip(grids, videos):
        metadata = video[1] if isinstance(video, tuple | list) and len(video) == 2 else None
        metadata = metadata if isinstance(metadata, dict) else vars(metadata) if metadata is not None else {}
        if metadata.get("fps") is None or metadata.get("frames_indices") is None:
            raise ValueError(
                "a Qwen3-VL video needs metadata with fps and frames_indices (qwen-vl-utils' return_video_metadata)"
            )
        indices = [int(i) for i in metadata["frames_indices"]]
        stamps = processor._calculate_timestamps(indices, float(metadata["fps"]), temporal_patch)
        if len(stamps) != grid[0]:
            raise ValueError(f"{len(stamps)} timestamps for {grid[0]} temporal patches")
        layouts.append(VideoLayout(grid, tuple(float(s) for s in stamps)))
    return layouts


def rollout_prompt_ids(tokenizer, text: str, num_videos: int) -> list[int]:
    """The chat-template ``text`` tokenised as is: what vLLM is given (one placeholder per video).

    Raises:
        ValueError: ``text`` does not hold exactly ``num_videos`` video placeholders.
    """
    found = text.count(VIDEO_PLACEHOLDER)
    if found != num_videos:
        raise ValueError(f"the prompt holds {found} video placeholders ({VIDEO_PLACEHOLDER}) for {num_videos} videos")
    return list(tokenizer.encode(text, add_special_tokens=False))


def _qwen3_groups(tokenizer, ids: VisionTokenIds, layout: VideoLayout, merge: int) -> list[int]:
    t, h, w = layout.grid_thw
    per_patch = h * w // (merge * merge)
    out: list[int] = []
    for stamp in layout.timestamps_s or ():
        # Encoded apart from the text around it, as vLLM's Qwen3VLMultiModalProcessor.get_video_repl does.
        out += tokenizer.encode(f"<{stamp:.1f} seconds>", add_special_tokens=False)
        out += [ids.vision_start, *([ids.video_pad] * per_patch), ids.vision_end]
    return out


def expand_video_placeholders(
    tokenizer, processor, rollout_ids: Sequence[int], layouts: Sequence[VideoLayout]
) -> list[int]:
    """``rollout_ids`` with the k-th video placeholder expanded for ``layouts[k]`` (rule: module doc).

    Raises:
        ValueError: the number of ``<|vision_start|><|video_pad|><|vision_end|>`` placeholders is not
            ``len(layouts)``, or a Qwen3-VL layout has no timestamps.
    """
    family = processor_family(processor)
    ids = VisionTokenIds.of(tokenizer)
    merge = int(processor.video_processor.merge_size)
    source = list(rollout_ids)
    starts = [
        i for i in range(len(source) - 2) if source[i : i + 3] == [ids.vision_start, ids.video_pad, ids.vision_end]
    ]
    if len(starts) != len(layouts) or source.count(ids.video_pad) != len(layouts):
        raise ValueError(
            f"the prompt holds {len(starts)} single-pad video placeholders "
            f"({source.count(ids.video_pad)} pads) for {len(layouts)} videos"
        )
    bare = family == "qwen3_vl" and expands_only_the_pad(processor)
    out: list[int] = []
    cursor = 0
    for start, layout in zip(starts, layouts):
        if family == "qwen3_vl" and layout.timestamps_s is None:
            raise ValueError("a Qwen3-VL video layout needs its timestamps")
        if family == "qwen3_vl":
            body = _qwen3_groups(tokenizer, ids, layout, merge)
            if bare:  # keep the outer start/end, replace the pad
                out += source[cursor : start + 1] + body
                cursor = start + 2
            else:  # replace the whole placeholder
                out += source[cursor:start] + body
                cursor = start + 3
        else:
            t, h, w = layout.grid_thw
            out += source[cursor : start + 1] + [ids.video_pad] * (t * h * w // (merge * merge))
            cursor = start + 2
    return out + source[cursor:]


def video_feature_positions(
    token_ids: Sequence[int], pad_id: int, layouts: Sequence[VideoLayout], merge: int
) -> list[list[int]]:
    """Where each video's features go in ``token_ids``, as the Hugging Face model places them.

    The model scatters all video features, in video order, into the ``<|video_pad|>`` positions in
    order (``masked_scatter``), so video ``k`` owns the pads from the cumulative feature count of the
    videos before it, ``t*h*w/m²`` of them. Positions are 0-based indices into ``token_ids``.

    Raises:
        ValueError: the number of pads differs from the features of ``layouts``.
    """
    pads = [i for i, token in enumerate(token_ids) if token == pad_id]
    sizes = [t * h * w // (merge * merge) for t, h, w in (layout.grid_thw for layout in layouts)]
    if len(pads) != sum(sizes):
        raise ValueError(f"{len(pads)} video pads for {sum(sizes)} video features")
    spans, start = [], 0
    for size in sizes:
        spans.append(pads[start : start + size])
        start += size
    return spans
