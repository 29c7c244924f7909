"""Model-free baselines: what guessing scores, from what the question itself reveals.

Per item (seeded by run seed and item id, so results repeat). A pretext task's answer is its
task's ``random_answer`` (``hints["task"]`` names the task):

- counting: each shape's count uniform in ``1 .. frames_per_shape x instances_per_frame`` (9 easy,
  16 hard), i.e. 1/9 and 1/16 exact per shape: the paper's 11.1 / 6.3;
- jigsaw: a uniformly random order: 1/720 and 1/40,320 exact: the paper's 0.1 / 0.0;
- grounding: the whole video, ``0.0-<duration>``; a random interval scores ~20 mean IoU, the whole
  video ~25, which is the paper's 25.2-25.9 row.

External benchmarks: multiple choice (``vqa``) a uniformly random option letter; temporal
grounding (``vtg``) the whole video.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from videossr.errors import ConfigError
from videossr.eval.backends.base import Generation, Request
from videossr.tasks.registry import get_task
from videossr.tasks.seeds import derive_seed, rng_for


def _external_answer(kind: str, hints, rng) -> str:
    if kind == "vqa":
        options = hints.get("options") or "ABCD"
        return options[int(rng.integers(len(options)))]
    return f"0.0-{hints['duration_s']:.1f}"  # vtg: the whole video


#: The external benchmark kinds (not pretext tasks) and their baseline answers.
EXTERNAL_KINDS = ("vqa", "vtg")


class RandomBackend:
    name = "random"

    def __init__(self, seed: int = 0):
        self.seed = seed

    def answer(self, request: Request) -> str:
        """The baseline answer of one request (see the module docstring); needs ``request.hints``."""
        hints = request.hints
        rng = rng_for(derive_seed(self.seed, "random-baseline", request.id))
        kind = hints.get("task")
        if kind in EXTERNAL_KINDS:
            return _external_answer(kind, hints, rng)
        try:
            task = get_task(str(kind))
        except ConfigError:
            raise ValueError(f"request {request.id}: the random baseline needs hints['task'], got {hints!r}") from None
        return task.random_answer(hints, rng)

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        generations = []
        for request in requests:
            started = time.perf_counter()
            try:
                generations.append(Generation(request.id, self.answer(request), wall_s=time.perf_counter() - started))
            except (KeyError, ValueError) as exc:
                generations.append(Generation(request.id, error=f"{type(exc).__name__}: {exc}"))
        return generations

    def close(self) -> None:
        pass
