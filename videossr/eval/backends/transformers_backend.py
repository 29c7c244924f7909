"""Batched ``generate`` with a transformers Qwen-VL model: runs on CPU and GPU.

The model and processor load through the real ``from_pretrained`` path (Qwen2.5-VL, Qwen3-VL and
anything ``AutoModelForImageTextToText`` knows). Frames go through qwen-vl-utils exactly as in
verl's training loop, with their timing metadata (``sample_fps``): Qwen3-VL writes per-patch
timestamps into the prompt, Qwen2.5-VL feeds ``second_per_grid_ts`` to M-RoPE. Decoding is
greedy. Requests of similar prompt length share a left-padded ``generate`` call; a batch that
fails is retried item by item so one bad item only costs itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

from videossr.errors import ConfigError
from videossr.eval.backends.base import Generation, Request, build_messages, vision_inputs

logger = logging.getLogger(__name__)

#: Processor outputs with one entry per token: left-padded when requests are batched.
_PER_TOKEN_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids")
#: Prompts up to 10 % longer than the shortest of a group share its generate call.
MAX_PADDING = 0.10


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
        self.device = torch.device(
            "cuda" if device == "auto" and torch.cuda.is_available() else ("cpu" if device == "auto" else device)
        )
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

    def _request_inputs(self, request: Request):
        """Processor outputs of one request (batch of 1)."""
        messages = build_messages(request)
        text = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        _, videos = vision_inputs(messages, self.patch_size)
        kwargs = {"text": [text], "return_tensors": "pt"}
        if videos:
            frames, metadata = zip(*videos)
            kwargs.update(videos=list(frames), video_metadata=list(metadata), do_sample_frames=False)
        return self.processor(**kwargs)

    def _collate(self, parts: list) -> dict:
        """Processor outputs of several requests as one left-padded batch."""
        import torch

        length = max(p["input_ids"].shape[1] for p in parts)
        pad_id = self.processor.tokenizer.pad_token_id
        batch = {}
        for key in parts[0].keys():
            values = [p[key] for p in parts]
            if key in _PER_TOKEN_KEYS:
                fill = pad_id if key == "input_ids" else 0
                batch[key] = torch.cat(
                    [torch.nn.functional.pad(v, (length - v.shape[1], 0), value=fill) for v in values], dim=0
                )
            else:  # vision tensors are flat over patches / videos: concatenate
                batch[key] = torch.cat([torch.as_tensor(v) for v in values], dim=0)
        return {k: v.to(self.device) for k, v in batch.items()}

    def _generate_group(self, parts: list, max_new_tokens: int) -> list[str]:
        import torch

        inputs = self._collate(parts)
        with torch.inference_mode():
            output = self.model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                num_beams=1,
                pad_token_id=self.processor.tokenizer.pad_token_id,
            )
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        return self.processor.batch_decode(new_tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def _generate_batch(self, requests: Sequence[Request]) -> list[str]:
        """Answers of ``requests``, generated in groups of similar prompt length.

        Each request is processed alone (one processor call per request is several times faster
        than one call on a whole batch in transformers 5.10), then requests whose prompts differ by
        at most ``MAX_PADDING`` in length share a ``generate`` call: padding a short video prompt to
        a long one costs more attention than batching saves.
        """
        parts = [self._request_inputs(r) for r in requests]
        lengths = [p["input_ids"].shape[1] for p in parts]
        order = sorted(range(len(requests)), key=lambda k: lengths[k])
        texts: list[str] = [""] * len(requests)
        group: list[int] = []
        for k in order + [None]:
            if group and (k is None or lengths[k] > lengths[group[0]] * (1 + MAX_PADDING)):
                budget = max(requests[g].max_new_tokens for g in group)
                for g, text in zip(group, self._generate_group([parts[g] for g in group], budget)):
                    texts[g] = text
                group = []
            if k is not None:
                group.append(k)
        return texts

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        started = time.perf_counter()
        try:
            texts = self._generate_batch(requests)
            seconds = (time.perf_counter() - started) / max(1, len(requests))
            return [Generation(r.id, text.strip(), wall_s=seconds) for r, text in zip(requests, texts)]
        except (RuntimeError, ValueError, OSError, KeyError, IndexError) as exc:
            if len(requests) == 1:
                return [Generation(requests[0].id, error=f"{type(exc).__name__}: {exc}")]
            logger.warning("a batch of %d failed (%s); retrying one by one", len(requests), exc)
            return [g for r in requests for g in self.generate([r])]

    def close(self) -> None:
        self.model = None
