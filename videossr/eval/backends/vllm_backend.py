"""What it does
------------
:class:`VLLMBackend` answers :class:`~videossr.eval.backends.base.Request` s greedily with vLLM's
offline ``LLM.generate``. Its frames and prompts are built the way verl builds them for training:
the chat messages come from :func:`~videossr.eval.backends.base.build_messages`, the prompt text
from the processor's chat template, the frames from qwen-vl-utils
(:func:`~videossr.eval.backends.base.vision_inputs`, i.e. the same ``smart_resize`` to multiples
of ``2 * patch_size`` that training uses).
:func:`~videossr.eval.backends.vllm_prompt.prepare_vllm_prompt` does this for one request and
returns the vLLM prompt dict; it needs no GPU and no vLLM, so it is tested on CPU.

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

The pieces: :mod:`~videossr.eval.backends.vllm_prompt` builds each request's prompt (pure),
:mod:`~videossr.eval.backends.vllm_engine` runs one engine in one worker process, and this module
is the pool: GPU groups, the worker processes and the supervisor that keeps the live ones busy.
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
from videossr.eval.backends.base import Generation, Request
from videossr.eval.backends.vllm_engine import EngineDead, EngineOptions, one_line

logger = logging.getLogger(__name__)

#: What users are told to run when a worker finds no vLLM.
INSTALL_HINT = "pip install -r requirements-gpu.txt"
#: Chunks queued per worker: one running, one ready to start the moment it finishes.
MAX_CHUNKS_IN_FLIGHT = 2
#: Longest single wait for the workers; a message or a worker's exit ends it sooner.
WAIT_SECONDS = 5.0

_DEFAULT_ENGINE_FACTORY = "videossr.eval.backends.vllm_engine:VLLMEngine"


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


def cpu_thread_binds(cpus: Sequence[int], engines: int, tensor_parallel_size: int) -> list[str] | None:
    """``VLLM_CPU_OMP_THREADS_BIND`` of each engine on a machine without GPUs: its own CPUs.

    vLLM's CPU build binds an engine's compute threads itself ("auto"), but each engine of this
    pool is a separate vLLM instance that believes it is alone, so every engine binds to the same
    cores and the rest stay idle. Here the ``cpus`` (sorted) are cut into ``engines`` equal shares,
    each share into ``tensor_parallel_size`` rank lists joined by ``|`` (vLLM's format). None when
    there is one engine (vLLM's own binding is right then) or fewer CPUs than ranks.

    >>> cpu_thread_binds([0, 1], engines=2, tensor_parallel_size=1)
    ['0', '1']
    >>> cpu_thread_binds(range(8), engines=2, tensor_parallel_size=2)
    ['0,1|2,3', '4,5|6,7']
    >>> cpu_thread_binds([0, 1], engines=1, tensor_parallel_size=1) is None
    True
    """
    cpus = sorted(cpus)
    ranks = engines * tensor_parallel_size
    if engines < 2 or len(cpus) < ranks:
        return None
    per_rank = len(cpus) // ranks
    rank_lists = [",".join(map(str, cpus[r * per_rank : (r + 1) * per_rank])) for r in range(ranks)]
    return ["|".join(rank_lists[e * tensor_parallel_size : (e + 1) * tensor_parallel_size]) for e in range(engines)]


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


def _worker_main(index, gpu_ids, cpu_bind, options, factory_path, tasks, results, log_level) -> None:
    """Body of worker ``index``: pin GPUs, build the engine, answer batches until told to stop.

    ``tasks`` is this worker's queue of ``(batch_id, requests)`` (None: stop); ``results`` the
    sending end of its own pipe to the parent: ``("ready", info)``, ``("fatal", message)`` or
    ``("result", batch_id, generations)``.
    """
    # Before anything can import vLLM or touch CUDA: this process only ever sees its own GPUs.
    if gpu_ids is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(gpu_ids)
    if cpu_bind is not None:  # vLLM's CPU build: this engine's own cores (cpu_thread_binds)
        os.environ["VLLM_CPU_OMP_THREADS_BIND"] = cpu_bind
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
            message = one_line(f"vLLM engine of worker {index} died: {exc}")
            results.send(("result", batch_id, [Generation(r.id, error=message) for r in batch]))
            results.send(("fatal", message))
            raise SystemExit(1) from None
        # A bug outside vLLM's per-request handling: this batch fails, the engine keeps serving.
        except Exception as exc:
            logger.exception("worker %d: a batch of %d requests failed", index, len(batch))
            message = one_line(f"{type(exc).__name__} in vLLM worker {index}: {exc}")
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
        startup_timeout_s: float = 1800.0,
        shutdown_timeout_s: float = 60.0,
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
            startup_timeout_s: seconds a worker may take to load its engine.
            shutdown_timeout_s: seconds ``close`` waits for workers before terminating them.
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
        self._closer = weakref.finalize(self, _shutdown, self._workers, shutdown_timeout_s)
        atexit.register(self._closer)
        try:
            self._start_workers(groups, engine_factory)
            self._wait_until_ready(startup_timeout_s)
        except BaseException:
            self.close()
            raise

    # -- start-up ------------------------------------------------------------------------------

    def _start_workers(self, groups: list[list[str] | None], engine_factory: str) -> None:
        context = multiprocessing.get_context("spawn")
        log_level = logging.getLogger().getEffectiveLevel()
        binds = None
        if all(group is None for group in groups) and "VLLM_CPU_OMP_THREADS_BIND" not in os.environ:
            binds = cpu_thread_binds(os.sched_getaffinity(0), len(groups), self.options.tensor_parallel_size)
            if binds:
                logger.info("no GPU: vLLM engines bound to their own CPUs: %s", " / ".join(binds))
        for index, group in enumerate(groups):
            tasks = context.Queue()
            # One pipe per worker: a worker dying mid-send can only corrupt its own channel.
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(
                target=_worker_main,
                args=(
                    index,
                    group,
                    binds[index] if binds else None,
                    self.options,
                    engine_factory,
                    tasks,
                    sender,
                    log_level,
                ),
                name=f"videossr-vllm-{index}",
                # Not a daemon: vLLM starts its own engine-core processes, which daemons may not.
                daemon=False,
            )
            worker = _Worker(index=index, gpus=group, process=process, tasks=tasks, results=receiver)
            process.start()
            self._workers.append(worker)
            sender.close()  # the worker holds the only sending end: its death reads as EOF here

    def _wait_until_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while any(w.alive and not w.ready for w in self._workers):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                for worker in self._workers:
                    if worker.alive and not worker.ready:
                        worker.error = f"not ready after {timeout_s:.0f} s"
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

    def _wait(self, timeout_s: float, results, requests) -> None:
        """Wait up to ``timeout_s`` seconds for a message or a worker exit; handle whatever arrived."""
        from multiprocessing.connection import wait

        watched = {}
        for worker in self._workers:
            if worker.alive:
                watched[worker.process.sentinel] = worker
                if worker.pipe_open:
                    watched[worker.results] = worker
        if watched:
            for ready in wait(list(watched), timeout_s):
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
                        results[position] = Generation(requests[position].id, error=one_line(reason))
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
                            results[position] = Generation(requests[position].id, error=one_line(reason))
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
