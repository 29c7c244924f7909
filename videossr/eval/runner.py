"""Answer a list of requests with a backend, appending to the responses file as results arrive.

Requests are prepared lazily (a benchmark of external videos decodes each item's frames when its
batch comes up, in a background thread while the model answers the previous batch), and only the
ids missing from the responses file are run, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from videossr.errors import VideoSSRError
from videossr.eval.backends.base import Backend, Generation, Request
from videossr.eval.responses import ResponseLog

#: Threads that decode the videos of a batch while the model answers the previous one.
PREPARE_THREADS = 4

#: Builds the request of one item id; raises to record a per-item error (e.g. a missing video).
RequestFactory = Callable[[str], Request]


@dataclass
class RunStats:
    total: int = 0
    skipped: int = 0
    answered: int = 0
    errors: int = 0
    wall_s: float = 0.0

    @property
    def items_per_s(self) -> float:
        return self.answered / self.wall_s if self.wall_s > 0 else 0.0


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
    stats = RunStats(total=len(item_ids), skipped=len(item_ids) - len(todo))
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
