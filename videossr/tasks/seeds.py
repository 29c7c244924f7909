"""Per-sample seeds derived from the run seed by a stable hash.

A sample's randomness depends only on (run seed, what is generated, video id): never on worker
count, processing order or Python's per-process hash salt, so any one sample can be regenerated
alone from the seed stored in its row.
"""

from __future__ import annotations

import hashlib

import numpy as np


def derive_seed(run_seed: int, *parts: object) -> int:
    """A 63-bit seed from ``run_seed`` and ``parts`` (joined by ``/`` after ``str()``).

    >>> parts = ("grounding", "channelswap", "cooking/pasta")
    >>> derive_seed(0, *parts) == derive_seed(0, *parts) != derive_seed(1, *parts)
    True
    """
    text = "/".join([str(int(run_seed)), *map(str, parts)])
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def rng_for(seed: int) -> np.random.Generator:
    """The generator every sample draws from (PCG64, NumPy's default bit generator)."""
    return np.random.default_rng(seed)
