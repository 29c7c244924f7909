"""The ``videossr`` lmms-eval model: VIUBench answered exactly as ``eval/viubench.py run`` answers it.

``python -m lmms_eval --model videossr --model_args pretrained=PATH,backend=vllm --tasks viubench
--include_path eval/lmms_eval_tasks`` (registered through lmms-eval's ``lmms_eval.models`` entry
point, :mod:`videossr.eval.lmms_eval.plugin`). For each doc it reads the VIUBench record the doc
carries and builds the same request as ``eval/viubench.py run`` (:func:`videossr.eval.viubench.request_of`):
VIUBench's system message, the stored frames of every video at their own ``sample_fps`` and
pixel budget, greedy decoding. The answers come from this project's backends (``transformers``,
``vllm``, ``random``), so a model's lmms-eval numbers are the ones our own runner gives.

Model arguments (``--model_args``): ``pretrained`` (a model folder or hub id; not for ``random``),
``backend`` (default ``transformers``), and the eval scripts' backend settings under their flag
names: ``dtype``, ``data_parallel``, ``tensor_parallel``, ``gpu_memory_utilization``,
``max_model_len``, ``enforce_eager``, ``seed``. lmms-eval's ``--batch_size`` and ``--device`` are
used as given. Only VIUBench docs can be answered; a doc of another task raises an error naming it.

Runs only where lmms-eval is installed (it is not a dependency of this package).
"""

from __future__ import annotations

import logging
from typing import Any

from lmms_eval.api.instance import Instance
from lmms_eval.api.model import lmms

from videossr.errors import ConfigError
from videossr.eval.backends import make_backend
from videossr.eval.lmms_eval.task import record_of_doc
from videossr.eval.run import BackendConfig
from videossr.eval.viubench import MAX_NEW_TOKENS, request_of

logger = logging.getLogger(__name__)

MODEL_NAME = "videossr"


class VideoSSRModel(lmms):
    """lmms-eval's simple-model interface over a VideoSSR backend (one process; vLLM shards itself)."""

    is_simple = True

    def __init__(
        self,
        pretrained: str | None = None,
        backend: str = "transformers",
        batch_size: int | str = 4,
        device: str | None = None,
        dtype: str = "auto",
        data_parallel: int | None = None,
        tensor_parallel: int = 1,
        gpu_memory_utilization: float = 0.85,
        max_model_len: int = 32768,
        enforce_eager: bool = False,
        seed: int = 0,
        max_batch_size: int | None = None,
    ) -> None:
        super().__init__()
        self.backend_config = BackendConfig(
            backend=str(backend),
            model=str(pretrained) if pretrained else None,
            batch_size=int(batch_size),
            device=str(device or "auto"),
            dtype=str(dtype),
            data_parallel=int(data_parallel) if data_parallel else None,
            tensor_parallel=int(tensor_parallel),
            gpu_memory_utilization=float(gpu_memory_utilization),
            max_model_len=int(max_model_len),
            enforce_eager=bool(enforce_eager),
            seed=int(seed),
        )
        self.backend_config.validate_backend()
        self.backend = make_backend(self.backend_config.backend, **self.backend_config.backend_options())

    def _request(self, instance: Instance):
        _context, gen_kwargs, _doc_to_visual, doc_id, task, split = instance.args
        doc = self.task_dict[task][split][doc_id]
        if "record" not in doc:
            raise ConfigError(
                f"the {MODEL_NAME} model answers VIUBench docs only; task {task!r} is not VIUBench "
                "(use one of lmms-eval's own model wrappers for it)"
            )
        if float(gen_kwargs.get("temperature") or 0) > 0 or gen_kwargs.get("do_sample"):
            raise ConfigError(f"the {MODEL_NAME} model decodes greedily (VIUBench's protocol); {task} asks to sample")
        return request_of(record_of_doc(doc), int(gen_kwargs.get("max_new_tokens") or MAX_NEW_TOKENS))

    def generate_until(self, requests: list[Instance]) -> list[str]:
        """One answer per instance, in order; a request the backend failed on answers "" (scored 0)."""
        answers: list[str] = []
        size = self.backend_config.batch_size
        for start in range(0, len(requests), size):
            batch = requests[start : start + size]
            for instance, generation in zip(batch, self.backend.generate([self._request(i) for i in batch])):
                if generation.error:
                    logger.warning("%s failed: %s", generation.id, generation.error)
                answers.append(generation.response if not generation.error else "")
                self.cache_hook.add_partial("generate_until", (instance.args[0], instance.args[1]), answers[-1])
        return answers

    def loglikelihood(self, requests: list[Instance]) -> list[tuple[float, bool]]:
        raise NotImplementedError(f"the {MODEL_NAME} model generates answers; it has no loglikelihood")

    def generate_until_multi_round(self, requests: list[Instance]) -> list[Any]:
        raise NotImplementedError(f"the {MODEL_NAME} model answers single-turn VIUBench questions")
