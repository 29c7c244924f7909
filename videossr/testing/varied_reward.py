"""A test-only verl reward whose scores vary between responses, so a GRPO step really updates.

With a tiny random model every response scores 0 under the real reward, so every GRPO advantage
is 0, the policy gradient is 0 and a "successful" step proves nothing. This reward keeps the real
reward's plumbing and keys (it calls :func:`videossr.rewards.scoring.compute_score` and logs its
result under ``task_*``) but trains on a score that differs between any two different responses::

    score = int(sha256(response)[:8], 16) / 2**32          # uniform-looking in [0, 1)

A pure function of the response text (no randomness, no state): the same response always gets
the same score. It carries no learning signal and must never be used outside tests; it is
selected explicitly, by ``train/smoke_cpu.sh``, with
``reward.custom_reward_function.path=pkg://videossr.testing.varied_reward``.

>>> result = compute_score("counting", "3,1,4", "3,1,4")
>>> result["task_score"], 0.0 <= result["score"] < 1.0
(1.0, True)
>>> compute_score("counting", "abc", "3,1,4")["score"] == compute_score("jigsaw", "abc", "123456")["score"]
True
"""

from __future__ import annotations

import hashlib
from typing import Any

from videossr.rewards.scoring import compute_score as task_compute_score


def response_hash_score(response: str) -> float:
    """The first 32 bits of ``sha256(response)`` as a fraction in [0, 1).

    >>> response_hash_score("")
    0.8894159948
    """
    digest = hashlib.sha256(response.encode("utf-8", errors="surrogatepass")).hexdigest()
    return round(int(digest[:8], 16) / 2**32, 10)


def compute_score(
    data_source: str, solution_str: str, ground_truth: str, extra_info: dict | None = None, **kwargs: Any
) -> dict[str, float]:
    """verl's custom-reward signature: the task reward's keys as ``task_*`` plus a varying ``score``.

    ``kwargs`` (``reward_mode``, ``answer_format``, ``format_weight``, ...) go to the task reward,
    which raises for malformed ground truth as usual.
    """
    task = task_compute_score(data_source, solution_str, ground_truth, extra_info, **kwargs)
    return {"score": response_hash_score(solution_str), **{f"task_{key}": value for key, value in task.items()}}
