"""Answering a benchmark's items with a backend, resumably: the loop and the run folder.

A run folder ``R`` holds ``responses.jsonl`` (appended as answers arrive; the run resumes from
it), ``summary.json`` (metrics, config, model, versions; written by scoring) and ``config.json``
(the resolved flags of the first run; later runs must use the same model and backend).

Requests are prepared lazily (a benchmark of external videos decodes each item's frames when its
batch comes up, in a background thread while the model answers the previous batch), and only the
ids missing from the responses file are run, so a killed run resumes where it stopped. Shared by
``eval/viubench.py run``, ``eval/vqa.py`` and ``eval/vtg.py``.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videossr.cli import config_to_dict, progress_bar
from videossr.data.store import exclusive_writer
from videossr.errors import ConfigError, VideoSSRError
from videossr.eval.backends import BACKEND_NAMES, make_backend
from videossr.eval.backends.base import Backend, Generation, Request
from videossr.eval.responses import ResponseLog
from videossr.io import read_json, remove_stale_temporaries, write_json_atomic

logger = logging.getLogger(__name__)

RESPONSES_NAME = "responses.jsonl"
SUMMARY_NAME = "summary.json"
RUN_CONFIG_NAME = "config.json"


@dataclass(kw_only=True)
class BackendConfig:
    """The model backend of a run (eval/viubench.py run, eval/vqa.py, eval/vtg.py): :func:`add_backend_flags`."""

    backend: str = "transformers"
    model: str | None = None
    batch_size: int = 4
    device: str = "auto"
    dtype: str = "auto"
    data_parallel: int | None = None
    tensor_parallel: int = 1
    gpu_memory_utilization: float = 0.85
    max_model_len: int = 32768
    enforce_eager: bool = False
    seed: int = 0
    retry_errors: bool = False
    limit: int | None = None

    def validate_backend(self) -> None:
        if self.backend != "random" and not self.model:
            raise ConfigError(f"--model is required for the {self.backend} backend (a folder or hub id)")
        if self.model and self.backend != "random" and not Path(self.model).exists() and "/" not in self.model:
            raise ConfigError(f"--model {self.model}: no such folder (and not a hub id like Qwen/Qwen3-VL-8B-Instruct)")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"--limit must be >= 1, got {self.limit}")

    def backend_options(self) -> dict[str, Any]:
        if self.backend == "random":
            return {"seed": self.seed}
        if self.backend == "transformers":
            return {"model_path": self.model, "device": self.device, "dtype": self.dtype}
        return {
            "model_path": self.model,
            "data_parallel_size": self.data_parallel,
            "tensor_parallel_size": self.tensor_parallel,
            "gpu_memory_utilization": self.gpu_memory_utilization,
            "max_model_len": self.max_model_len,
            "batch_size": self.batch_size,
            "seed": self.seed,
            # vLLM's own switch; only passed when asked for, so vLLM's default (compile) stays.
            "engine_kwargs": {"enforce_eager": True} if self.enforce_eager else {},
        }


def _identity(config: BackendConfig) -> dict[str, Any]:
    return {"backend": config.backend, "model": config.model}


def check_run_folder(output_dir: Path, config: BackendConfig, config_dict: dict[str, Any]) -> None:
    """Refuse to mix two models' answers in one responses file."""
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / RUN_CONFIG_NAME
    if path.exists():
        previous = read_json(path)
        if {k: previous.get(k) for k in ("backend", "model")} != _identity(config):
            raise ConfigError(
                f"{output_dir} holds answers of backend {previous.get('backend')} / model {previous.get('model')}; "
                "pass a new --output-dir for another model"
            )
    else:
        write_json_atomic(path, config_dict)


def answer_items(
    item_ids: Sequence[str],
    make_request: Callable[[str], Request],
    config: BackendConfig,
    output_dir: Path,
    config_dict: dict[str, Any] | None = None,
) -> RunStats:
    """Answer every item not yet in ``output_dir/responses.jsonl`` with the configured backend.

    One run at a time per folder: a second run on the same ``output_dir`` is refused at once
    (:class:`~videossr.data.store.OutputBusyError`) instead of answering the same items twice.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_writer(output_dir):
        remove_stale_temporaries(output_dir)
        return _answer_items_locked(item_ids, make_request, config, output_dir, config_dict)


def _answer_items_locked(item_ids, make_request, config, output_dir, config_dict) -> RunStats:
    check_run_folder(output_dir, config, config_dict or config_to_dict(config))
    ids = list(item_ids)[: config.limit] if config.limit else list(item_ids)
    with ResponseLog(output_dir / RESPONSES_NAME, retry_errors=config.retry_errors) as log:
        if all(i in log.done for i in ids):
            return RunStats(total=len(ids), already_done=len(ids))
        backend = make_backend(config.backend, **config.backend_options())
        try:
            return run(
                ids,
                make_request,
                backend,
                log,
                batch_size=config.batch_size,
                progress=progress_bar("answering", "item"),
            )
        finally:
            backend.close()


# ----------------------------------------------------------------------------- the loop


#: Threads that decode the videos of a batch while the model answers the previous one.
PREPARE_THREADS = 4

#: Builds the request of one item id; raises to record a per-item error (e.g. a missing video).
RequestFactory = Callable[[str], Request]


@dataclass
class RunStats:
    total: int = 0
    already_done: int = 0  # answered by an earlier run (in responses.jsonl)
    answered: int = 0
    errors: int = 0
    wall_s: float = 0.0

    @property
    def items_per_s(self) -> float:
        return self.answered / self.wall_s if self.wall_s > 0 else 0.0


def add_backend_flags(parser) -> None:
    """The flags of :class:`BackendConfig`."""
    parser.add_argument("--backend", choices=list(BACKEND_NAMES), help="model backend")
    parser.add_argument("--model", help="model folder or hub id (not needed for random)")
    parser.add_argument("--batch-size", type=int, help="requests per generate call")
    parser.add_argument("--device", help="transformers: auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--dtype", help="transformers: auto (bf16 on GPU, fp32 on CPU) or a torch dtype")
    parser.add_argument("--data-parallel", type=int, help="vllm: engines, one per GPU group (default: all GPUs)")
    parser.add_argument("--tensor-parallel", type=int, help="vllm: GPUs per engine")
    parser.add_argument("--gpu-memory-utilization", type=float, help="vllm: share of GPU memory per engine")
    parser.add_argument("--max-model-len", type=int, help="vllm: context length")
    parser.add_argument(
        "--enforce-eager",
        action=argparse.BooleanOptionalAction,
        help="vllm: no torch.compile or CUDA graphs (starts ~20 s sooner per engine, answers slower on GPU)",
    )
    parser.add_argument("--seed", type=int, help="seed of the random baseline and of vLLM")
    parser.add_argument(
        "--retry-errors", action=argparse.BooleanOptionalAction, help="re-run items whose earlier attempt failed"
    )
    parser.add_argument("--limit", type=int, help="answer only the first N items (smoke runs)")


def run(
    item_ids: Sequence[str],
    make_request: RequestFactory,
    backend: Backend,
    log: ResponseLog,
    *,
    batch_size: int = 8,
    progress: Callable[[Iterator[Generation], int], Iterator[Generation]] | None = None,
    prepare_errors: tuple[type[BaseException], ...] = (VideoSSRError, OSError, ValueError),
) -> RunStats:
    """Answer every id not yet in ``log``; returns counts and timing.

    ``prepare_errors``: exceptions of ``make_request`` recorded as that item's error (the item
    counts as wrong) rather than stopping the run.
    """
    started = time.perf_counter()
    todo = [i for i in item_ids if i not in log.done]
    stats = RunStats(total=len(item_ids), already_done=len(item_ids) - len(todo))
    generations = _generate(todo, make_request, backend, batch_size, prepare_errors)
    if progress is not None:
        generations = progress(generations, len(todo))
    for generation in generations:
        log.append(generation, backend=backend.name)
        stats.answered += 1
        stats.errors += generation.error is not None
    stats.wall_s = time.perf_counter() - started
    return stats


def _generate(todo, make_request, backend, batch_size, prepare_errors) -> Iterator[Generation]:
    # A backend with several engines (vLLM, data parallel) needs more than one batch per call to
    # keep them all busy; it says how many requests a call should carry.
    batch_size = max(batch_size, int(getattr(backend, "requests_per_call", batch_size)))
    batches = [todo[k : k + batch_size] for k in range(0, len(todo), batch_size)]
    if not batches:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prepare") as prefetcher:
        upcoming: Future = prefetcher.submit(_prepare, batches[0], make_request, prepare_errors)
        for index in range(len(batches)):
            requests, failed = upcoming.result()
            if index + 1 < len(batches):
                upcoming = prefetcher.submit(_prepare, batches[index + 1], make_request, prepare_errors)
            yield from failed
            if requests:
                yield from backend.generate(requests)


def _prepare(ids, make_request, prepare_errors) -> tuple[list[Request], list[Generation]]:
    """Build a batch's requests; decoding releases the GIL, so a few threads overlap well."""

    def one(item_id):
        try:
            return make_request(item_id)
        except prepare_errors as exc:
            return Generation(id=item_id, error=f"{type(exc).__name__}: {exc}")

    with ThreadPoolExecutor(max_workers=PREPARE_THREADS, thread_name_prefix="decode") as pool:
        prepared = list(pool.map(one, ids))
    requests = [p for p in prepared if isinstance(p, Request)]
    failed = [p for p in prepared if isinstance(p, Generation)]
    return requests, failed
