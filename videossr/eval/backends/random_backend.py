"""Model-free baselines: what guessing scores, from what the question itself reveals.

Per item (seeded by run seed and item id, so results repeat):

- counting: each shape's count uniform in ``1 .. frames_per_shape x instances_per_frame`` (9 easy,
  16 hard), i.e. 1/9 and 1/16 exact per shape: the paper's 11.1 / 6.3;
- jigsaw: a uniformly random order: 1/720 and 1/40,320 exact: the paper's 0.1 / 0.0;
- grounding: the whole video, ``0.0-<duration>``; a random interval scores ~20 mean IoU, the whole
  video ~25, which is the paper's 25.2-25.9 row;
- multiple choice: a uniformly random option letter;
- temporal grounding (external): the whole video.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from videossr.eval.backends.base import Generation, Request
from videossr.tasks.seeds import derive_seed, rng_for


class RandomBackend:
    name = "random"

    def __init__(self, seed: int = 0):
        self.seed = seed

    def answer(self, request: Request) -> str:
        """The baseline answer of one request (see the module docstring); needs ``request.hints``."""
        hints = request.hints
        rng = rng_for(derive_seed(self.seed, "random-baseline", request.id))
        task = hints.get("task")
        if task == "counting":
            return ",".join(str(int(rng.integers(1, hints["max_count"] + 1))) for _ in range(3))
        if task == "jigsaw":
            return "".join(str(int(k) + 1) for k in rng.permutation(hints["num_clips"]))
        if task in ("grounding", "vtg"):
            return f"0.0-{hints['duration_s']:.1f}"
        if task == "vqa":
            options = hints.get("options") or "ABCD"
            return options[int(rng.integers(len(options)))]
        raise ValueError(f"request {request.id}: the random baseline needs hints['task'], got {hints!r}")

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        generations = []
        for request in requests:
            started = time.perf_counter()
            try:
                generations.append(Generation(request.id, self.answer(request), seconds=time.perf_counter() - started))
            except (KeyError, ValueError) as exc:
                generations.append(Generation(request.id, error=f"{type(exc).__name__}: {exc}"))
        return generations

    def close(self) -> None:
        pass
