"""Batched ``generate`` with a transformers Qwen-VL model: runs on CPU and GPU.

The model and processor load through the real ``from_pretrained`` path (Qwen2.5-VL, Qwen3-VL and
anything ``AutoModelForImageTextToText`` knows). Frames go through qwen-vl-utils exactly as in
verl's training loop, with their timing metadata (``sample_fps``): Qwen3-VL writes per-patch
timestamps into the prompt, Qwen2.5-VL feeds ``second_per_grid_ts`` to M-RoPE. Decoding is
greedy. Batches are left-padded; a batch that fails is retried item by item so one bad item only
costs itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

from videossr.errors import ConfigError
from videossr.eval.backends.base import Generation, Request, build_messages, vision_inputs

logger = logging.getLogger(__name__)


class TransformersBackend:
    name = "transformers"

    def __init__(
        self,
        model_path: str,
        *,
        device: str = "auto",
        dtype: str = "auto",
        attn_implementation: str | None = None,
    ):
        """Load ``model_path`` (a local folder or a hub id).

        Args:
            device: ``auto`` (CUDA if available, else CPU), ``cpu``, ``cuda``, ``cuda:1``...
            dtype: ``auto`` (bfloat16 on GPU, float32 on CPU), or a torch dtype name.
            attn_implementation: e.g. ``flash_attention_2``; None lets transformers choose.

        Raises:
            ConfigError: the path is neither a model folder nor loadable.
        """
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        if Path(model_path).exists() and not (Path(model_path) / "config.json").is_file():
            raise ConfigError(f"--model {model_path} is not a model folder (no config.json)")
        self.device = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                                   ("cpu" if device == "auto" else device))  # fmt: skip
        if dtype == "auto":
            torch_dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        else:
            torch_dtype = getattr(torch, dtype)
        try:
            self.processor = AutoProcessor.from_pretrained(model_path)
            kwargs = {"dtype": torch_dtype}
            if attn_implementation:
                kwargs["attn_implementation"] = attn_implementation
            self.model = AutoModelForImageTextToText.from_pretrained(model_path, **kwargs).to(self.device).eval()
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load model {model_path}: {exc}".splitlines()[0]) from exc
        self.processor.tokenizer.padding_side = "left"
        self.patch_size = int(getattr(self.processor.image_processor, "patch_size", 14))

    def _inputs(self, requests: Sequence[Request]):
        texts, videos = [], []
        for request in requests:
            messages = build_messages(request)
            texts.append(self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
            _, request_videos = vision_inputs(messages, self.patch_size)
            videos.extend(request_videos or [])
        kwargs = {"text": texts, "padding": True, "return_tensors": "pt"}
        if videos:
            frames, metadata = zip(*videos)
            kwargs.update(videos=list(frames), video_metadata=list(metadata), do_sample_frames=False)
        return self.processor(**kwargs).to(self.device)

    def _generate_batch(self, requests: Sequence[Request]) -> list[str]:
        import torch

        inputs = self._inputs(requests)
        with torch.inference_mode():
            output = self.model.generate(
                **inputs,
                # Requests of one benchmark share their budget; a mixed batch gets the largest.
                max_new_tokens=max(r.max_new_tokens for r in requests),
                do_sample=False,
                num_beams=1,
                pad_token_id=self.processor.tokenizer.pad_token_id,
            )
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        return self.processor.batch_decode(new_tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        started = time.perf_counter()
        try:
            texts = self._generate_batch(requests)
            seconds = (time.perf_counter() - started) / max(1, len(requests))
            return [Generation(r.id, text.strip(), seconds=seconds) for r, text in zip(requests, texts)]
        except (RuntimeError, ValueError, OSError, KeyError, IndexError) as exc:
            if len(requests) == 1:
                return [Generation(requests[0].id, error=f"{type(exc).__name__}: {exc}")]
            logger.warning("a batch of %d failed (%s); retrying one by one", len(requests), exc)
            return [g for r in requests for g in self.generate([r])]

    def close(self) -> None:
        self.model = None

