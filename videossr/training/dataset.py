"""verl's ``RLHFDataset`` with a prompt-length filter that decodes no frame.

verl 0.9.1 filters over-long prompts (``data.filter_overlong_prompts=True``) by building every
row's processor inputs: all frames of every video decoded and resized by qwen-vl-utils, then
the Hugging Face processor, in one process by default (``filter_overlong_prompts_workers: 1``).
That is ~0.5 s per 48-frame row, hours for VideoSSR-30K, before any GPU work.

The token count of a Qwen-VL video prompt does not depend on pixel values, only on the text and,
per video, on the frame count, the frame size after qwen-vl-utils' resize and the frame rate
(Qwen3-VL's timestamps). This class computes exactly that, by construction:

* the frame size is read from each frame's image header (``PIL.Image.open`` decodes nothing) and
  resized with qwen-vl-utils' own ``smart_resize`` as ``fetch_video`` does for a frame list (once
  per frame, then once for the stacked clip with its pixel budget);
* each distinct (frames, height, width, fps) shape is put once through the real processor on a
  blank clip of that shape, which gives its ``video_grid_thw`` and timestamps (cached);
* the prompt's length is that of the prompt the actor is trained on:
  :func:`~videossr.qwen_vl.video_prompt.expand_video_placeholders` of the chat-template text
  (with transformers 5.10 this equals the processor's own count; with 5.9 it is one token longer
  per clip that follows a space, see :mod:`videossr.qwen_vl.video_prompt`).

A row whose frames are missing, unreadable or of different sizes within one video counts as too
long (dropped), as verl does for rows that fail to process. Models other than Qwen2.5-VL/Qwen3-VL,
or rows with images, use verl's own filter. ``filter_overlong_prompts_workers`` still applies
(``datasets.Dataset.filter`` processes).

train.sh selects it with ``data.custom_cls.path=pkg://videossr.training.dataset`` and
``data.custom_cls.name=VideoSSRDataset``; ``bench/bench_filter.py`` measures it against verl's.
"""

from __future__ import annotations

import copy
import logging
from functools import lru_cache
from typing import Any

from verl.utils.dataset.rl_dataset import RLHFDataset

from videossr.qwen_vl.video_prompt import (
    expand_video_placeholders,
    processor_family,
    rollout_prompt_ids,
    video_layouts,
)

logger = logging.getLogger(__name__)


def _frame_sizes(frames: list[str]) -> set[tuple[int, int]]:
    """``(width, height)`` of every frame file, from its header only."""
    from PIL import Image

    sizes = set()
    for path in frames:
        with Image.open(path) as image:
            sizes.add(image.size)
    return sizes


def clip_shape(video: dict[str, Any], patch_size: int) -> tuple[int, int, int, float]:
    """``(frames, height, width, sample_fps)`` of the tensor qwen-vl-utils makes of ``video``.

    ``video``: a row's video entry (``video``: frame paths, ``sample_fps``, optional
    ``min_pixels``/``max_pixels``). Mirrors ``qwen_vl_utils.fetch_video`` for a frame list: each
    frame resized by ``smart_resize`` with the entry's budget (to multiples of 4 patches, a quirk of
    qwen-vl-utils 0.0.14), the count padded to a multiple of 2,
    then the clip resized again within its per-frame budget.

    Raises:
        OSError: a frame is missing or not an image.
        ValueError: the frames of one video differ in size (qwen-vl-utils cannot stack them).
    """
    from qwen_vl_utils import vision_process as vp

    factor = patch_size * vp.SPATIAL_MERGE_SIZE
    frames = [str(f) for f in video["video"]]
    sizes = _frame_sizes(frames)
    if len(sizes) != 1:
        raise ValueError(f"the frames of one video have {len(sizes)} sizes: {sorted(sizes)[:3]}")
    ((width, height),) = sizes
    # fetch_video hands each frame to fetch_image with image_patch_size=factor, which multiplies by
    # the merge size again: the per-frame resize rounds to multiples of 2*factor.
    frame_factor = factor * vp.SPATIAL_MERGE_SIZE
    image_min = video.get("min_pixels", vp.IMAGE_MIN_TOKEN_NUM * frame_factor**2)
    image_max = video.get("max_pixels", vp.IMAGE_MAX_TOKEN_NUM * frame_factor**2)
    height, width = vp.smart_resize(height, width, factor=frame_factor, min_pixels=image_min, max_pixels=image_max)
    num_frames = vp.ceil_by_factor(len(frames), vp.FRAME_FACTOR)
    min_pixels = video.get("min_pixels", vp.VIDEO_MIN_TOKEN_NUM * factor * factor)
    total_pixels = video.get("total_pixels", vp.MODEL_SEQ_LEN * factor * factor * 0.9)
    max_pixels = max(
        min(vp.VIDEO_MAX_TOKEN_NUM * factor * factor, total_pixels / num_frames * vp.FRAME_FACTOR),
        int(min_pixels * 1.05),
    )
    max_pixels = min(video.get("max_pixels", max_pixels), max_pixels)
    height, width = vp.smart_resize(height, width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)
    return num_frames, height, width, float(video.get("sample_fps", 2.0))


class VideoSSRDataset(RLHFDataset):
    """``RLHFDataset`` whose over-long-prompt filter decodes no frame (see the module docstring)."""

    def _layout_cache(self):
        if getattr(self, "_layouts", None) is None:
            self._layouts = lru_cache(maxsize=4096)(self._layout_of_shape)
        return self._layouts

    def _layout_of_shape(self, num_frames: int, height: int, width: int, fps: float):
        """The processor's layout of a blank clip of this shape (same grid and timestamps as any)."""
        import torch
        from verl.utils.tokenizer import build_multimodal_processor_inputs

        clip = torch.zeros((num_frames, 3, height, width), dtype=torch.float32)
        metadata = {"fps": fps, "frames_indices": list(range(num_frames)), "total_num_frames": float(num_frames)}
        inputs = build_multimodal_processor_inputs(
            self.processor,
            text=["<|vision_start|><|video_pad|><|vision_end|>"],
            videos=[(clip, metadata)],
            mm_processor_kwargs=self.mm_processor_kwargs,
        )
        (layout,) = video_layouts(self.processor, inputs["video_grid_thw"], [(clip, metadata)])
        return layout

    def prompt_length(self, doc: dict[str, Any]) -> int:
        """Tokens of ``doc``'s prompt as the actor gets it; frames are not decoded.

        Raises:
            OSError, ValueError: a frame is missing/unreadable, or frames of one video differ in size.
        """
        # verl's _build_messages rewrites the message dicts in place: give it copies.
        messages = self._build_messages(
            {**doc, self.prompt_key: copy.deepcopy(doc[self.prompt_key])}, key=self.prompt_key
        )
        text = self.processor.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False, **dict(self.apply_chat_template_kwargs or {})
        )
        videos = doc.get(self.video_key) or []
        layouts = [self._layout_cache()(*clip_shape(video, self.image_patch_size)) for video in videos]
        ids = rollout_prompt_ids(self.tokenizer, text, len(videos))
        return len(expand_video_placeholders(self.tokenizer, self.processor, ids, layouts)) if videos else len(ids)

    def _fast_filter_applies(self, dataframe) -> bool:
        if not self.filter_overlong_prompts or self.processor is None or self.tool_schemas is not None:
            return False
        try:
            processor_family(self.processor)
        except ValueError:
            return False
        columns = set(dataframe.column_names)
        return self.image_key not in columns and self.audio_key not in columns

    def maybe_filter_out_long_prompts(self, dataframe=None):
        if not self._fast_filter_applies(dataframe):
            return super().maybe_filter_out_long_prompts(dataframe)

        def doc2len(doc) -> int:
            try:
                return self.prompt_length(doc)
            except (OSError, ValueError) as exc:
                logger.warning("dropping a row whose prompt cannot be built: %s", exc)
                return self.max_prompt_length + 1

        before = len(dataframe)
        dataframe = dataframe.filter(
            lambda doc: doc2len(doc) <= self.max_prompt_length,
            num_proc=self.num_workers,
            desc=f"Filtering prompts longer than {self.max_prompt_length} tokens (no decoding)",
        )
        logger.info(
            "length filter kept %d of %d rows (max_prompt_length %d)", len(dataframe), before, self.max_prompt_length
        )
        return dataframe

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_layouts", None)  # an lru_cache of a bound method does not pickle
        return state


__all__ = ["VideoSSRDataset", "clip_shape"]
