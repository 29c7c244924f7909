"""Offline batched inference with vLLM, one engine per GPU group (data parallel).

What it does
------------
:class:`VLLMBackend` answers :class:`~videossr.eval.backends.base.Request` s greedily with vLLM's
offline ``LLM.generate``. Its frames and prompts are built the way verl builds them for training:
the chat messages come from :func:`~videossr.eval.backends.base.build_messages`, the prompt text
from the processor's chat template, the frames from qwen-vl-utils
(:func:`~videossr.eval.backends.base.vision_inputs`, i.e. the same ``smart_resize`` to multiples
of ``2 * patch_size`` that training uses). :func:`prepare_vllm_prompt` does this for one request
and returns the vLLM prompt dict; it needs no GPU and no vLLM, so it is tested on CPU.

Data parallelism
----------------
The visible GPUs (``CUDA_VISIBLE_DEVICES``, else the NVML / torch device count) are cut into
``data_parallel_size`` groups of ``tensor_parallel_size`` GPUs. Each group gets its own worker
process, started with the ``spawn`` context, which sets ``CUDA_VISIBLE_DEVICES`` to its group
*before* it imports vLLM, then builds one ``vllm.LLM``. The parent never imports vLLM and never
initialises CUDA, so it can hold any number of engines and survive their crashes. (As with any
``spawn`` start, a script that builds the backend must do so under ``if __name__ ==
"__main__":``.) The workers are not daemons, because vLLM starts processes of its own; ``close``
(also run at exit and on garbage collection) stops them, and a worker whose parent vanished
stops by itself.

``generate`` cuts the requests into chunks of ``batch_size`` and keeps up to
:data:`MAX_CHUNKS_IN_FLIGHT` chunks queued per worker, giving the next chunk to whichever worker
finishes first (videos make prompts uneven, so static round-robin would leave GPUs idle). Each
chunk travels with a batch id and the requests' positions, so answers are put back in input order
whatever worker produced them. Each worker answers through its own pipe, and the parent waits
on those pipes and on the worker processes' sentinels together, so a worker's exit wakes it at
once: the chunks of a worker that died (segfault, CUDA error, OOM killer) become
``Generation(error=...)`` and the other workers carry on; with no worker left, every remaining
request is answered with an error at once. Nothing ever waits on a dead process, and a worker
dying mid-message can only tear its own pipe.

At start-up every worker reports ``ready`` or the reason it failed (for example "vllm is not
installed: pip install -r requirements-gpu.txt"); the backend starts if at least one worker is
ready and raises :class:`RuntimeError` with the workers' messages otherwise.

Per-request failures (a prompt longer than ``max_model_len``, an unreadable frame, too many
videos) become ``Generation(error=...)``: inputs are prepared per request, and a batch that
``LLM.generate`` rejects is retried one request at a time to isolate the bad one.

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
:mod:`videossr.training.rollout_prompt`; vLLM expands each video placeholder in them, so the prompt
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
prompt). Caveat, outside this module: the verl 0.9.1 stack is not consistent for Qwen2.5-VL video
time. Its agent loop computes the actor's position ids with transformers'
``Qwen2_5_VLModel.get_rope_index`` without ``second_per_grid_ts`` (so 1 s per temporal patch,
whatever ``sample_fps``), its vLLM 0.24 rollouts get the 2/24 s fallback above, and
transformers 5's ``get_rope_index`` truncates ``second_per_grid_ts`` to an int. Qwen3-VL has
none of this: its time is the timestamp text in the prompt.

Both families: ``mm_processor_kwargs["do_sample_frames"] = False`` (no re-sampling). The HF video
processor still runs its ``smart_resize``; on frames that are already multiples of
``2 * patch_size`` and within the processor's pixel budget it keeps the size (the CPU tests check
the grid), and it is the very call verl makes in training, so frames match either way.
``limit_mm_per_prompt={"video": max_videos_per_prompt, "image": 0}`` (jigsaw prompts carry 6 or
8 clips); sampling is ``SamplingParams(temperature=0, max_tokens=max_new_tokens, seed=seed)``.
"""

from __future__ import annotations

import atexit
import importlib
import itertools
import logging
import multiprocessing
import multiprocessing.util  # noqa: F401  (its atexit hook must be registered before ours)
import os
import pickle
import queue
import time
import traceback
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from videossr.errors import ConfigError
from videossr.eval.backends.base import Generation, Request, build_messages, vision_inputs
from videossr.training.rollout_prompt import VIDEO_PLACEHOLDER, processor_family, rollout_prompt_ids

logger = logging.getLogger(__name__)

#: What users are told to run when a worker finds no vLLM.
INSTALL_HINT = "pip install -r requirements-gpu.txt"
#: Chunks queued per worker: one running, one ready to start the moment it finishes.
MAX_CHUNKS_IN_FLIGHT = 2
#: Longest single wait for the workers; a message or a worker's exit ends it sooner.
WAIT_SECONDS = 5.0
#: ``video_backend`` label of the metadata (informational: neither vLLM nor transformers read it).
VIDEO_BACKEND_LABEL = "qwen_vl_utils"
#: The vision placeholder Qwen chat templates emit for one video.
VIDEO_PLACEHOLDER_TOKENS = VIDEO_PLACEHOLDER
#: What can go wrong while preparing one request's inputs: placeholder/video mismatch, an invalid
#: size (ValueError), an unreadable or missing frame (OSError, incl. PIL.UnidentifiedImageError),
#: a frame of the wrong type (TypeError), a tensor op failing on a degenerate frame (RuntimeError).
INPUT_ERRORS = (ValueError, TypeError, OSError, RuntimeError)

_DEFAULT_ENGINE_FACTORY = "videossr.eval.backends.vllm_backend:VLLMEngine"


# --------------------------------------------------------------------------------------------
# GPUs
# --------------------------------------------------------------------------------------------


def visible_gpu_ids() -> list[str]:
    """The GPUs this process may use, as ``CUDA_VISIBLE_DEVICES`` entries; initialises no CUDA.

    With ``CUDA_VISIBLE_DEVICES`` set, its entries (indices or ``GPU-``/``MIG-`` UUIDs) up to the
    first negative index, which hides the rest as CUDA does; ``""`` means none. Otherwise every
    device NVML sees, or ``torch.cuda.device_count()`` when NVML is unavailable (that asks the
    driver for a count but creates no CUDA context), or none when neither is installed.
    """
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is not None:
        ids = []
        for entry in (part.strip() for part in value.split(",")):
            if not entry:
                continue
            if entry.lstrip("-").isdigit() and int(entry) < 0:
                break
            ids.append(entry)
        return ids
    return [str(i) for i in range(_device_count())]


def _device_count() -> int:
    try:
        import pynvml  # nvidia-ml-py, a vLLM dependency

        pynvml.nvmlInit()
        try:
            return int(pynvml.nvmlDeviceGetCount())
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # pynvml missing, or no NVIDIA driver/library: NVML raises its own types
        pass
    try:
        import torch
    except ImportError:
        return 0
    return int(torch.cuda.device_count())


def gpu_groups(
    gpu_ids: Sequence[str], data_parallel_size: int | None, tensor_parallel_size: int
) -> list[list[str] | None]:
    """The GPUs of each engine: ``data_parallel_size`` groups of ``tensor_parallel_size``.

    ``data_parallel_size`` None means as many groups as the GPUs allow (at least one). With no
    GPU visible every group is ``None`` (the worker keeps the environment as it is; vLLM then
    reports what it cannot find).

    Raises:
        ConfigError: invalid sizes, or more GPUs asked for than are visible.
    """
    if tensor_parallel_size < 1:
        raise ConfigError(f"tensor_parallel_size must be >= 1, got {tensor_parallel_size}")
    if data_parallel_size is None:
        data_parallel_size = max(1, len(gpu_ids) // tensor_parallel_size)
    if data_parallel_size < 1:
        raise ConfigError(f"data_parallel_size must be >= 1, got {data_parallel_size}")
    if not gpu_ids:
        return [None] * data_parallel_size
    needed = data_parallel_size * tensor_parallel_size
    if needed > len(gpu_ids):
        raise ConfigError(
            f"data_parallel_size {data_parallel_size} x tensor_parallel_size {tensor_parallel_size} needs "
            f"{needed} GPUs but {len(gpu_ids)} are visible ({','.join(gpu_ids)})"
        )
    return [list(gpu_ids[k * tensor_parallel_size : (k + 1) * tensor_parallel_size]) for k in range(data_parallel_size)]


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
    (:func:`videossr.training.rollout_prompt.rollout_prompt_ids`), so vLLM's expansion of it is
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
                message = _one_line(f"vllm: {type(output).__name__}: {output}")
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
            generation.seconds = seconds
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
                "a batch of %d prompts failed (%s); retrying them one by one", len(prompts), _one_line(str(exc))
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


def _one_line(text: str, limit: int = 2000) -> str:
    text = " | ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------
# Worker process
# --------------------------------------------------------------------------------------------


def _load_factory(path: str):
    module_name, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def _startup_error(exc: BaseException) -> str:
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] == "vllm":
        return f"vllm is not installed: {INSTALL_HINT} ({exc})"
    if isinstance(exc, ImportError) and "vllm" in str(exc):
        return f"vllm could not be imported ({type(exc).__name__}: {exc}); reinstall with {INSTALL_HINT}"
    return f"{type(exc).__name__}: {exc}"


def _worker_main(index, gpu_ids, options, factory_path, tasks, results, log_level) -> None:
    """Body of worker ``index``: pin GPUs, build the engine, answer batches until told to stop.

    ``tasks`` is this worker's queue of ``(batch_id, requests)`` (None: stop); ``results`` the
    sending end of its own pipe to the parent: ``("ready", info)``, ``("fatal", message)`` or
    ``("result", batch_id, generations)``.
    """
    # Before anything can import vLLM or touch CUDA: this process only ever sees its own GPUs.
    if gpu_ids is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(gpu_ids)
    # vLLM's own (tensor-parallel) workers must not be forked from this process.
    os.environ.setdefault("VLLM_WORKER_MULTIPROC_METHOD", "spawn")
    if not logging.getLogger().handlers:
        logging.basicConfig(level=log_level, format="%(asctime)s %(processName)s %(name)s %(levelname)s: %(message)s")
    try:
        engine = _load_factory(factory_path)(options)
    # Any start-up failure (no vLLM, bad model path, CUDA OOM...) must reach the parent as text.
    except Exception as exc:
        logger.debug("worker %d failed to start:\n%s", index, traceback.format_exc())
        results.send(("fatal", _startup_error(exc)))
        raise SystemExit(1) from None
    results.send(("ready", {"pid": os.getpid(), "gpus": gpu_ids}))
    parent = multiprocessing.parent_process()
    while True:
        try:
            task = tasks.get(timeout=1.0)
        except queue.Empty:
            if parent is not None and not parent.is_alive():
                break  # orphaned: nobody will read our answers
            continue
        if task is None:
            break
        batch_id, batch = task
        try:
            generations = engine.generate(batch)
        except EngineDead as exc:
            message = _one_line(f"vLLM engine of worker {index} died: {exc}")
            results.send(("result", batch_id, [Generation(r.id, error=message) for r in batch]))
            results.send(("fatal", message))
            raise SystemExit(1) from None
        # A bug outside vLLM's per-request handling: this batch fails, the engine keeps serving.
        except Exception as exc:
            logger.exception("worker %d: a batch of %d requests failed", index, len(batch))
            message = _one_line(f"{type(exc).__name__} in vLLM worker {index}: {exc}")
            results.send(("result", batch_id, [Generation(r.id, error=message) for r in batch]))
            continue
        for generation in generations:
            generation.meta.setdefault("worker", index)
        results.send(("result", batch_id, generations))
    try:
        engine.close()
    except Exception:  # shutting down anyway; a failing close must not turn a clean exit into a crash
        logger.warning("worker %d: engine close failed", index, exc_info=True)


# --------------------------------------------------------------------------------------------
# The backend (parent side)
# --------------------------------------------------------------------------------------------


@dataclass
class _Worker:
    index: int
    gpus: list[str] | None
    process: Any
    tasks: Any  # multiprocessing Queue: parent -> worker
    results: Any  # receiving end of the worker's own pipe: worker -> parent
    ready: bool = False
    alive: bool = True
    pipe_open: bool = True
    error: str | None = None
    in_flight: dict[int, list[int]] = field(default_factory=dict)

    def describe(self) -> str:
        where = f"GPUs {','.join(self.gpus)}" if self.gpus else "no pinned GPU"
        return f"vLLM worker {self.index} ({where})"


def _silent_exit(worker: _Worker) -> str:
    return (
        f"exited with code {worker.process.exitcode} before reporting (see its stderr; note that a script "
        "creating the backend must do so under `if __name__ == '__main__':`, as spawned workers re-import it)"
    )


def _shutdown(workers: list[_Worker], timeout: float) -> None:
    """Stop ``workers``: sentinel, join, then terminate/kill what is left. Safe to call twice."""
    for worker in workers:
        if worker.process.is_alive():
            try:
                worker.tasks.put(None)
            except (ValueError, OSError):  # queue already closed
                pass
    deadline = time.monotonic() + timeout
    for worker in workers:
        worker.process.join(max(0.0, deadline - time.monotonic()))
    for worker in workers:
        if worker.process.is_alive():
            logger.warning("%s did not stop within %.0f s; terminating it", worker.describe(), timeout)
            worker.process.terminate()
            worker.process.join(5.0)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(5.0)
        worker.alive = False
        # Never block on a feeder thread whose reader is gone.
        worker.tasks.cancel_join_thread()
        worker.tasks.close()
        worker.results.close()


class VLLMBackend:
    """Greedy generation with one vLLM engine per GPU group (see the module docstring)."""

    name = "vllm"

    def __init__(
        self,
        model_path: str,
        *,
        data_parallel_size: int | None = None,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.85,
        max_model_len: int = 32768,
        max_num_seqs: int | None = None,
        batch_size: int = 64,
        dtype: str = "bfloat16",
        seed: int = 0,
        max_videos_per_prompt: int = 8,
        engine_kwargs: dict[str, Any] | None = None,
        startup_timeout: float = 1800.0,
        shutdown_timeout: float = 60.0,
        engine_factory: str = _DEFAULT_ENGINE_FACTORY,
    ):
        """Start the workers and wait until each has loaded its engine (or failed).

        Args:
            model_path: model folder or hub id, loaded by vLLM and by ``AutoProcessor``.
            data_parallel_size: engines; default: visible GPUs // ``tensor_parallel_size``.
            tensor_parallel_size: GPUs per engine.
            gpu_memory_utilization, max_model_len, max_num_seqs, dtype, seed: passed to ``vllm.LLM``
                (``seed`` also to ``SamplingParams``).
            batch_size: requests per ``LLM.generate`` call (vLLM schedules within it).
            max_videos_per_prompt: ``limit_mm_per_prompt["video"]``; more videos fail that request.
            engine_kwargs: further ``vllm.LLM`` arguments (e.g. ``{"enforce_eager": True}``);
                they override the ones above.
            startup_timeout: seconds a worker may take to load its engine.
            shutdown_timeout: seconds ``close`` waits for workers before terminating them.
            engine_factory: ``"module:callable"`` building a worker's engine from
                :class:`EngineOptions` (an object with ``generate(requests)`` and ``close()``);
                the default builds :class:`VLLMEngine`. A seam for tests.

        Raises:
            ConfigError: invalid sizes, or more GPUs asked for than visible.
            RuntimeError: no worker could start; the message carries each worker's reason.
        """
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        if max_videos_per_prompt < 0:
            raise ConfigError(f"max_videos_per_prompt must be >= 0, got {max_videos_per_prompt}")
        gpus = visible_gpu_ids()
        groups = gpu_groups(gpus, data_parallel_size, tensor_parallel_size)
        if not gpus:
            logger.warning("no GPU is visible; starting %d vLLM worker(s) without pinning GPUs", len(groups))
        self.batch_size = int(batch_size)
        self.options = EngineOptions(
            model_path=str(model_path),
            tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            max_num_seqs=max_num_seqs,
            dtype=dtype,
            seed=seed,
            max_videos_per_prompt=max_videos_per_prompt,
            engine_kwargs=dict(engine_kwargs or {}),
        )
        self._batch_ids = itertools.count()
        self._workers: list[_Worker] = []
        # The finaliser holds the workers, not self: it runs on close(), on garbage collection,
        # and at exit. It is registered with atexit after multiprocessing.util (imported at the top
        # of this module) registered its own exit hook, so it runs first: multiprocessing joins
        # non-daemon children at exit, and workers left running would make the interpreter wait.
        self._closer = weakref.finalize(self, _shutdown, self._workers, shutdown_timeout)
        atexit.register(self._closer)
        try:
            self._start_workers(groups, engine_factory)
            self._wait_until_ready(startup_timeout)
        except BaseException:
            self.close()
            raise

    # -- start-up ------------------------------------------------------------------------------

    def _start_workers(self, groups: list[list[str] | None], engine_factory: str) -> None:
        context = multiprocessing.get_context("spawn")
        log_level = logging.getLogger().getEffectiveLevel()
        for index, group in enumerate(groups):
            tasks = context.Queue()
            # One pipe per worker: a worker dying mid-send can only corrupt its own channel.
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(
                target=_worker_main,
                args=(index, group, self.options, engine_factory, tasks, sender, log_level),
                name=f"videossr-vllm-{index}",
                # Not a daemon: vLLM starts its own engine-core processes, which daemons may not.
                daemon=False,
            )
            worker = _Worker(index=index, gpus=group, process=process, tasks=tasks, results=receiver)
            process.start()
            self._workers.append(worker)
            sender.close()  # the worker holds the only sending end: its death reads as EOF here

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while any(w.alive and not w.ready for w in self._workers):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                for worker in self._workers:
                    if worker.alive and not worker.ready:
                        worker.error = f"not ready after {timeout:.0f} s"
                        worker.alive = False
                        worker.process.terminate()
                break
            self._wait(min(remaining, WAIT_SECONDS), results=None, requests=None)
        failed = [w for w in self._workers if not (w.ready and w.alive)]
        ready = [w for w in self._workers if w.ready and w.alive]
        reasons = "; ".join(f"{w.describe()}: {w.error or _silent_exit(w)}" for w in failed)
        if not ready:
            raise RuntimeError(f"the vLLM backend could not start any engine: {reasons}")
        if failed:
            logger.warning("%d of %d vLLM workers failed to start: %s", len(failed), len(self._workers), reasons)
        logger.info("vLLM backend ready: %d engine(s) of %s", len(ready), self.options.model_path)

    # -- messages and dead workers --------------------------------------------------------------

    def _wait(self, timeout: float, results, requests) -> None:
        """Wait up to ``timeout`` for a message or a worker exit; handle whatever arrived."""
        from multiprocessing.connection import wait

        watched = {}
        for worker in self._workers:
            if worker.alive:
                watched[worker.process.sentinel] = worker
                if worker.pipe_open:
                    watched[worker.results] = worker
        if watched:
            for ready in wait(list(watched), timeout):
                worker = watched[ready]
                if ready is worker.results:
                    self._read(worker, results, requests)
        self._reap(results, requests)

    def _read(self, worker: _Worker, results, requests) -> None:
        """Handle one message of ``worker`` (whose pipe is readable)."""
        try:
            message = worker.results.recv()
        # EOF: the worker is gone (or going); a torn message reads as EOF or an unpickling error.
        except (EOFError, OSError, pickle.UnpicklingError):
            worker.pipe_open = False
            return
        kind = message[0]
        if kind == "ready":
            worker.ready = True
        elif kind == "fatal":
            worker.error = message[1]
        elif kind == "result":
            batch_id, generations = message[1], message[2]
            positions = worker.in_flight.pop(batch_id, None)
            if positions is None or results is None:
                return  # from an interrupted earlier call: nobody waits for it
            if len(generations) != len(positions):
                message = f"{worker.describe()} returned {len(generations)} answers for {len(positions)} requests"
                generations = [Generation(requests[p].id, error=message) for p in positions]
            for position, generation in zip(positions, generations):
                results[position] = generation

    def _reap(self, results, requests) -> None:
        """Mark workers that exited as dead; their in-flight requests become errors."""
        for worker in self._workers:
            if not worker.alive or worker.process.exitcode is None:
                continue
            # Take what it managed to send before dying (its last answers, its fatal message).
            while worker.pipe_open and worker.results.poll():
                self._read(worker, results, requests)
            worker.alive = False
            reason = f"{worker.describe()} exited with code {worker.process.exitcode}"
            if worker.error:
                reason += f": {worker.error}"
            if worker.ready:
                logger.error("%s", reason)
            if results is not None:
                for positions in worker.in_flight.values():
                    for position in positions:
                        results[position] = Generation(requests[position].id, error=_one_line(reason))
            worker.in_flight.clear()

    # -- the Backend interface -----------------------------------------------------------------

    @property
    def live_workers(self) -> int:
        """Engines still able to answer."""
        return sum(1 for w in self._workers if w.alive and w.ready)

    @property
    def requests_per_call(self) -> int:
        """Requests one ``generate`` call needs to keep every live engine busy.

        ``generate`` cuts a call into chunks of ``batch_size`` and queues up to
        :data:`MAX_CHUNKS_IN_FLIGHT` per engine, so a caller handing over only ``batch_size``
        requests at a time would keep one engine working and the others idle. The evaluation
        runner reads this to size its calls.
        """
        return self.batch_size * MAX_CHUNKS_IN_FLIGHT * max(1, self.live_workers)

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        """One generation per request, in input order; failures become ``Generation.error``."""
        requests = list(requests)
        results: list[Generation | None] = [None] * len(requests)
        size = self.batch_size
        chunks = deque(list(range(start, min(start + size, len(requests)))) for start in range(0, len(requests), size))
        mine: set[int] = set()
        try:
            self._reap(results, requests)
            while True:
                live = [w for w in self._workers if w.alive and w.ready]
                if not live:
                    reason = "no vLLM worker is alive"
                    errors = "; ".join(f"{w.describe()}: {w.error}" for w in self._workers if w.error)
                    if errors:
                        reason += f" ({errors})"
                    for positions in chunks:
                        for position in positions:
                            results[position] = Generation(requests[position].id, error=_one_line(reason))
                    chunks.clear()
                    break
                for worker in live:
                    while chunks and len(worker.in_flight) < MAX_CHUNKS_IN_FLIGHT:
                        positions = chunks.popleft()
                        batch_id = next(self._batch_ids)
                        worker.tasks.put((batch_id, [requests[p] for p in positions]))
                        worker.in_flight[batch_id] = positions
                        mine.add(batch_id)
                if not any(batch_id in w.in_flight for w in self._workers for batch_id in mine):
                    break
                self._wait(WAIT_SECONDS, results, requests)
        finally:
            # After an interruption, forget our batches: their late answers are dropped on arrival,
            # and the workers count as free again.
            for worker in self._workers:
                for batch_id in mine & worker.in_flight.keys():
                    worker.in_flight.pop(batch_id)
        return [
            generation if generation is not None else Generation(request.id, error="no answer from any vLLM worker")
            for request, generation in zip(requests, results)
        ]

    def close(self) -> None:
        """Stop the workers (sentinel, join with timeout, then terminate). Idempotent."""
        self._closer()
        atexit.unregister(self._closer)

    def __enter__(self) -> VLLMBackend:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
