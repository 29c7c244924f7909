"""Model backends behind one small interface (:class:`~videossr.eval.backends.base.Backend`).

``random`` (baselines, no model), ``transformers`` (batched ``generate``; CPU or GPU) and ``vllm``
(batched offline inference, one engine per GPU). :func:`make_backend` builds one by name; heavy
imports happen only when a backend is built.
"""

from __future__ import annotations

from typing import Any

from videossr.errors import ConfigError

BACKEND_NAMES = ("random", "transformers", "vllm")


def make_backend(name: str, **options: Any):
    """The backend ``name`` built with ``options`` (see each backend's constructor)."""
    if name == "random":
        from videossr.eval.backends.random_backend import RandomBackend

        return RandomBackend(**options)
    if name == "transformers":
        from videossr.eval.backends.transformers_backend import TransformersBackend

        return TransformersBackend(**options)
    if name == "vllm":
        from videossr.eval.backends.vllm_backend import VLLMBackend

        return VLLMBackend(**options)
    raise ConfigError(f"unknown backend {name!r}; choose from {', '.join(BACKEND_NAMES)}")
