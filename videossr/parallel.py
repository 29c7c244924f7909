"""Run a function over many items in worker processes or on a Ray cluster, surviving crashes.

Used by every per-video stage. Results come back in completion order; callers that need a
deterministic output order sort what they collect (outputs never depend on which worker did what).

A worker process that dies (a decoder segfault on a hostile file, the OOM killer) would hang a
``multiprocessing.Pool`` or fail every pending task of a ``ProcessPoolExecutor``. Local workers
are a `pebble <https://pypi.org/project/Pebble/>`_ pool instead, which replaces the dead worker
and fails only its item: that item is reported as a :class:`WorkerCrash` and the rest complete
normally. On Ray, a crashed task is reported the same way.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Any, TypeVar

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")

#: Seconds to wait for a Ray head to accept a TCP connection before giving up.
RAY_PROBE_TIMEOUT_S = 5.0

#: Isolated re-runs that may crash in a row before the pool gives up on the environment.
MAX_CONSECUTIVE_CRASHES = 3

_THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


@dataclass(kw_only=True)
class RayOptions:
    """Where a stage that can run on a Ray cluster runs (``--ray`` / ``--ray-address``)."""

    ray: bool = False  # on the cluster this machine belongs to
    ray_address: str | None = None  # on the cluster at this address (implies ray)

    def ray_target(self) -> str | None:
        """The Ray address to run on, or None for local worker processes."""
        return self.ray_address or ("auto" if self.ray else None)


def add_ray_flags(parser) -> None:
    """``--ray`` and ``--ray-address`` (fields of :class:`RayOptions`)."""
    parser.add_argument(
        "--ray",
        action=argparse.BooleanOptionalAction,
        help="run on the Ray cluster this machine belongs to (ray start ...)",
    )
    parser.add_argument("--ray-address", help="run on the Ray cluster at this address (implies --ray)")


def add_workers_flag(parser) -> None:
    """``--workers`` (default: the CPUs this process may use)."""
    parser.add_argument("--workers", type=int, help="parallel worker processes")


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


def map_unordered(
    fn: Callable[[ItemT], ResultT], items: Iterable[ItemT], workers: int, *, ray_address: str | None = None
) -> Iterator[tuple[ItemT, ResultT | WorkerCrash]]:
    """Yield ``(item, fn(item))`` for every item, in completion order.

    ``fn`` must be a picklable module-level function. An item whose worker process dies comes back
    as a :class:`WorkerCrash`; exceptions raised by ``fn`` propagate (the pool is stopped). With
    ``workers <= 1`` everything runs in this process, in order. With ``ray_address`` (an address, or
    ``"auto"`` for the cluster this machine belongs to) items run as Ray tasks on the cluster
    instead, ``workers`` tasks in flight at most (0: twice the cluster's CPUs); there ``fn`` must
    be safe to run twice on an item (a task whose node dies is re-run elsewhere).

    Raises:
        RuntimeError: :data:`MAX_CONSECUTIVE_CRASHES` workers in a row died, each on its own item:
            the environment, not the items, is broken (an import error in the workers, no memory).
    """
    if ray_address is not None:
        yield from _ray_map_unordered(fn, items, ray_address, workers)
        return
    if workers <= 1:
        for item in items:
            yield item, fn(item)
        return
    yield from _pool_map_unordered(fn, items, workers)


def _pool_map_unordered(fn, items, workers: int):
    """:func:`map_unordered` in ``workers`` processes: a pebble pool, which replaces a dead worker
    and fails only that worker's item (a ``ProcessPoolExecutor`` would fail every pending one)."""
    import pebble

    # spawn, not fork: the parent may hold threads (progress bars, Ray clients) and open decoders.
    pool = pebble.ProcessPool(
        max_workers=workers,
        context=multiprocessing.get_context("spawn"),
        initializer=limit_threads_in_this_process,
    )
    try:
        pending = iter(items)
        in_flight: dict[Future, Any] = {}
        exhausted = False
        consecutive_crashes = 0
        while True:
            while not exhausted and len(in_flight) < 2 * workers:
                item = next(pending, _END)
                if item is _END:
                    exhausted = True
                else:
                    in_flight[pool.schedule(fn, args=(item,))] = item
            if not in_flight:
                return
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                item = in_flight.pop(future)
                try:
                    result = future.result()
                except pebble.ProcessExpired as exc:
                    consecutive_crashes += 1
                    if consecutive_crashes >= MAX_CONSECUTIVE_CRASHES:
                        raise RuntimeError(
                            f"{consecutive_crashes} worker processes in a row died, each on its own item; "
                            "the workers cannot run here (check that the function's module imports in a fresh "
                            "process, and the machine's free memory)"
                        ) from exc
                    result = WorkerCrash(
                        f"the worker process died (crashed or was killed; exit code {exc.exitcode}) "
                        "while handling this item"
                    )
                else:
                    consecutive_crashes = 0
                yield item, result
    finally:
        # Also on an exception or an abandoned generator: no worker outlives the call.
        pool.stop()
        pool.join()


_END = object()


# ----------------------------------------------------------------------------- Ray


def connect_ray(address: str):
    """Join the Ray cluster at ``address`` ("auto": the one this machine belongs to).

    A cluster on a loopback address (``127.0.0.2:6379``, e.g. a test cluster) keeps this driver on
    that address too: Ray would otherwise advertise the machine's network address.
    """
    import ray

    kwargs = {"address": address, "log_to_driver": False, "ignore_reinit_error": True}
    host, _, port = address.rpartition(":")
    if host.startswith("127."):
        kwargs["_node_ip_address"] = host
    if address != "auto" and port.isdigit():
        # ray.init retries an unreachable address for minutes; a plain TCP probe fails in seconds.
        try:
            socket.create_connection((host, int(port)), timeout=RAY_PROBE_TIMEOUT_S).close()
        except OSError as exc:
            raise ConnectionError(
                f"cannot join the Ray cluster at {address}: nothing answers there ({exc.strerror or exc}); "
                "start it with `ray start --head` (see the README) or fix --ray-address"
            ) from exc
    try:
        ray.init(**kwargs)
    except ConnectionError as exc:
        raise ConnectionError(
            f"cannot join the Ray cluster at {address}: start it with `ray start --head` (see the README) "
            f"or pass its address with --ray-address ({exc})"
        ) from exc
    return ray


def _ray_call(fn, item):
    limit_threads_in_this_process()
    return fn(item)


def _ray_map_unordered(fn, items, address: str, max_in_flight: int):
    ray = connect_ray(address)
    from ray.exceptions import NodeDiedError, OutOfMemoryError, WorkerCrashedError

    try:
        if max_in_flight <= 0:
            max_in_flight = max(1, 2 * int(ray.cluster_resources().get("CPU", 1)))
        # Retries cover a node that dies mid-task: the task is re-run elsewhere (fn is idempotent).
        remote_call = ray.remote(num_cpus=1, max_retries=3)(_ray_call)
        pending = iter(items)
        in_flight: dict[Any, Any] = {}
        exhausted = False
        while True:
            while not exhausted and len(in_flight) < max_in_flight:
                item = next(pending, _END)
                if item is _END:
                    exhausted = True
                else:
                    in_flight[remote_call.remote(fn, item)] = item
            if not in_flight:
                return
            (ready,), _ = ray.wait(list(in_flight), num_returns=1)
            item = in_flight.pop(ready)
            try:
                yield item, ray.get(ready)
            except (WorkerCrashedError, NodeDiedError, OutOfMemoryError) as exc:
                yield item, WorkerCrash(f"the Ray worker died while handling this item ({type(exc).__name__})")
    finally:
        ray.shutdown()  # disconnects this driver; the cluster keeps running
