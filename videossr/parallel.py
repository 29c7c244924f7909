"""Run a function over many items in worker processes, surviving worker crashes.

Used by every per-video stage. Results come back in completion order; callers that need a
deterministic output order sort what they collect (outputs never depend on which worker did what).

A worker process that dies (a decoder segfault on a hostile file, the OOM killer) would hang a
``multiprocessing.Pool`` or fail every pending task of a ``ProcessPoolExecutor``. Here the items
that were in flight are re-run one at a time in fresh single-worker pools, so the one that kills
its process is reported as a :class:`WorkerCrash` and the rest complete normally.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, TypeVar

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")

#: Isolated re-runs that may crash in a row before the pool gives up on the environment.
MAX_CONSECUTIVE_CRASHES = 3

_THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


@dataclass(frozen=True)
class WorkerCrash:
    """The worker process died while handling an item (the item's own code did not raise)."""

    message: str


def available_cpus() -> int:
    """CPUs this process may run on (respects affinity masks and container CPU sets)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def limit_threads_in_this_process() -> None:
    """One compute thread per library: parallelism comes from processes, not threads.

    Set before NumPy/OpenCV/PyAV are imported in a fresh worker; OpenCV's pool is also resized in
    case it was imported already.
    """
    for name in _THREAD_ENV_VARS:
        os.environ[name] = "1"
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # OpenCV is optional for callers of this module
        pass


def _new_pool(workers: int) -> ProcessPoolExecutor:
    # spawn, not fork: the parent may hold threads (progress bars, Ray clients) and open decoders.
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=limit_threads_in_this_process,
    )


def map_unordered(
    fn: Callable[[ItemT], ResultT], items: Iterable[ItemT], workers: int
) -> Iterator[tuple[ItemT, ResultT | WorkerCrash]]:
    """Yield ``(item, fn(item))`` for every item, in completion order.

    ``fn`` must be a picklable module-level function and safe to run twice on the same item (an
    item in flight when another worker crashes is re-run). Exceptions raised by ``fn`` propagate.
    With ``workers <= 1`` everything runs in this process, in order.
    """
    if workers <= 1:
        for item in items:
            yield item, fn(item)
        return
    pending = iter(items)
    while True:
        unfinished: list[ItemT] = []
        pool = _new_pool(workers)
        try:
            in_flight: dict[Future, Any] = {}
            exhausted = False
            while True:
                while not exhausted and len(in_flight) < 2 * workers:
                    item = next(pending, _END)
                    if item is _END:
                        exhausted = True
                    else:
                        in_flight[pool.submit(fn, item)] = item
                if not in_flight:
                    return
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        unfinished = list(in_flight.values())
                        break
                    yield in_flight.pop(future), result
                if unfinished:
                    break
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        consecutive_crashes = 0
        for item in unfinished:
            result = _run_isolated(fn, item)
            consecutive_crashes = consecutive_crashes + 1 if isinstance(result, WorkerCrash) else 0
            if consecutive_crashes >= MAX_CONSECUTIVE_CRASHES:
                # One bad input kills one worker; several in a row point at the environment
                # (an import error in the workers, memory exhausted), not at the items.
                raise RuntimeError(
                    f"{consecutive_crashes} worker processes in a row died, each on its own item; "
                    "the workers cannot run here (check that the function's module imports in a fresh "
                    "process, and the machine's free memory)"
                )
            yield item, result


def _run_isolated(fn: Callable[[ItemT], ResultT], item: ItemT) -> ResultT | WorkerCrash:
    pool = _new_pool(1)
    try:
        return pool.submit(fn, item).result()
    except BrokenProcessPool:
        return WorkerCrash("the worker process died (crashed or was killed) while handling this item")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_END = object()
