"""One vLLM engine in one (worker) process: greedy batched answers, bad requests isolated.

Per-request failures (a prompt longer than ``max_model_len``, an unreadable frame, too many
videos) become ``Generation(error=...)``: inputs are prepared per request
(:func:`~videossr.eval.backends.vllm_prompt.prepare_vllm_prompt`), and a batch that
``LLM.generate`` rejects is retried one request at a time to isolate the bad one. A dead engine
raises :class:`EngineDead` so its worker exits (:mod:`videossr.eval.backends.vllm_backend`).
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.util  # noqa: F401  (its atexit hook must be registered before ours)
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from videossr.eval.backends.base import Generation, Request
from videossr.eval.backends.vllm_prompt import INPUT_ERRORS, image_patch_size, prepare_vllm_prompt, video_family

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# The engine a worker runs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineOptions:
    """Everything a worker needs to build its engine (pickled to the worker)."""

    model_path: str
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.85
    max_model_len: int = 32768
    max_num_seqs: int | None = None
    dtype: str = "bfloat16"
    seed: int = 0
    max_videos_per_prompt: int = 8
    engine_kwargs: dict[str, Any] = field(default_factory=dict)


class EngineDead(Exception):
    """The vLLM engine of a worker cannot answer any more requests; the worker must exit."""


class VLLMEngine:
    """One ``vllm.LLM`` and its processor, living in a worker process."""

    def __init__(self, options: EngineOptions):
        import vllm  # first: a missing vLLM must fail before anything slow happens
        from transformers import AutoProcessor

        self._vllm = vllm
        self.options = options
        self.processor = AutoProcessor.from_pretrained(options.model_path)
        self.family = video_family(self.processor)
        self.patch_size = image_patch_size(self.processor)
        kwargs: dict[str, Any] = {
            "model": options.model_path,
            "tensor_parallel_size": options.tensor_parallel_size,
            "gpu_memory_utilization": options.gpu_memory_utilization,
            "max_model_len": options.max_model_len,
            "dtype": options.dtype,
            "seed": options.seed,
            "limit_mm_per_prompt": {"video": options.max_videos_per_prompt, "image": 0},
        }
        if options.max_num_seqs is not None:
            kwargs["max_num_seqs"] = options.max_num_seqs
        if self.family == "qwen2_5_vl":
            # The per-prompt video_metadata kwarg must meet all the prompt's videos (module docstring).
            kwargs["mm_processor_cache_gb"] = 0
        kwargs.update(options.engine_kwargs)
        self.llm = vllm.LLM(**kwargs)
        try:
            from vllm.v1.engine.exceptions import EngineDeadError
        except ImportError:  # moved in another vLLM version: fall back to the class name
            EngineDeadError = None
        self._dead_error = EngineDeadError

    def _is_dead(self, exc: BaseException) -> bool:
        if self._dead_error is not None and isinstance(exc, self._dead_error):
            return True
        return type(exc).__name__ == "EngineDeadError"

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        """One generation per request, in order; per-request problems become errors.

        Raises:
            EngineDead: the engine died; the caller should stop using it.
        """
        started = time.perf_counter()
        generations: list[Generation | None] = [None] * len(requests)
        prompts, params, positions = [], [], []
        for position, request in enumerate(requests):
            try:
                if len(request.videos) > self.options.max_videos_per_prompt:
                    raise ValueError(
                        f"{len(request.videos)} videos in one prompt; the engine was built for at most "
                        f"{self.options.max_videos_per_prompt} (max_videos_per_prompt)"
                    )
                prompt = prepare_vllm_prompt(request, self.processor, self.patch_size)
            except INPUT_ERRORS as exc:
                generations[position] = Generation(request.id, error=f"inputs: {type(exc).__name__}: {exc}")
                continue
            prompts.append(prompt)
            params.append(
                self._vllm.SamplingParams(temperature=0.0, max_tokens=request.max_new_tokens, seed=self.options.seed)
            )
            positions.append(position)
        outputs = self._generate_isolating(prompts, params) if prompts else []
        seconds = (time.perf_counter() - started) / max(1, len(requests))
        for position, output in zip(positions, outputs):
            request = requests[position]
            if isinstance(output, BaseException):
                message = one_line(f"vllm: {type(output).__name__}: {output}")
                generations[position] = Generation(request.id, error=message)
                continue
            completion = output.outputs[0]
            generations[position] = Generation(
                request.id,
                response=completion.text.strip(),
                meta={
                    "prompt_tokens": len(output.prompt_token_ids or ()),
                    "completion_tokens": len(completion.token_ids),
                    "finish_reason": completion.finish_reason,
                },
            )
        for generation in generations:
            generation.wall_s = seconds
        return generations  # type: ignore[return-value]

    def _generate_isolating(self, prompts: list[dict], params: list) -> list:
        """``llm.generate`` on the batch; if it raises, each prompt alone, so one bad prompt fails alone."""
        try:
            return self.llm.generate(prompts, params, use_tqdm=False)
        # vLLM rejects one bad prompt (too long, bad media) with ValueError, its own validation
        # errors, RuntimeError... and aborts the rest of the batch; all are retried one by one.
        except Exception as exc:
            if self._is_dead(exc):
                raise EngineDead(f"{type(exc).__name__}: {exc}") from exc
            if len(prompts) == 1:
                return [exc]
            logger.warning(
                "a batch of %d prompts failed (%s); retrying them one by one", len(prompts), one_line(str(exc))
            )
        outputs: list = []
        for prompt, param in zip(prompts, params):
            try:
                outputs.extend(self.llm.generate([prompt], [param], use_tqdm=False))
            except Exception as exc:  # same reasons as above, now for one prompt
                if self._is_dead(exc):
                    raise EngineDead(f"{type(exc).__name__}: {exc}") from exc
                outputs.append(exc)
        return outputs

    def close(self) -> None:
        engine_core = getattr(getattr(self.llm, "llm_engine", None), "engine_core", None)
        if engine_core is not None and hasattr(engine_core, "shutdown"):
            engine_core.shutdown()
        self.llm = None


def one_line(text: str, limit: int = 2000) -> str:
    text = " | ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."
