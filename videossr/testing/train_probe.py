"""A probe inside a verl run on CPU: what each rank trained on, what each rollout replica was sent (tests only).

Loaded in every Ray process of a run with verl's own plug-in hook, next to the CPU platform
(``VERL_USE_EXTERNAL_MODULES=videossr.testing.verl_cpu_platform,videossr.testing.train_probe``,
set by ``train/smoke_cpu.sh``), and active only when ``VIDEOSSR_TRAIN_PROBE`` names a folder. It
changes nothing a run computes; it appends JSON lines, one file per process, that
:mod:`videossr.testing.train_checks` reads:

* ``rows``: on each actor rank, at each actor update, the rank (global and data-parallel), the
  step and each trained sample's row id (the dataset row, see :func:`row_id`) and rollout index;
* ``logprobs``: on each actor rank, at each old-log-prob pass, the Pearson correlation of the
  rank's own token probabilities with the ones vLLM sampled them with (verl logs it for the whole
  batch only);
* ``optimizer``: on each actor rank, at the first actor update of each launch, a SHA-256 of the
  optimizer's state before the update (what a resumed launch restored; empty in a fresh one);
* ``sent``: on each actor rank, at each weight sync, a SHA-256 of the gathered full state it sends
  to its rollout replica (every tensor, by name, in the dtype sent) and that replica's number;
* ``received``: in each vLLM worker, at each sync, a SHA-256 of the same stream as received,
  computed the same way, and one of the model's own parameters after loading, i.e. what it serves.

How verl 0.9.1 is reached (trainer V1, engine workers; read from the installed source): rank data
arrives in ``TrainingWorker.train_mini_batch`` / ``infer_batch`` as a ``TensorDict`` that carries
the dataset row's fields (``index``, ``extra_info``, ``data_source``, ``global_steps``) next to the
tensors; ``ActorRolloutRefWorker.actor_worker_cls`` picks the class, so a subclass is installed
there. The sync streams ``(name, tensor)`` pairs from ``ServerAdapter.update_weights`` on the actor
to ``vLLMColocateWorkerExtension._update_weights`` in vLLM's worker. Each is wrapped right after
its module is imported (this module is imported while ``verl`` itself is, before those exist).
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ENV = "VIDEOSSR_TRAIN_PROBE"


def probe_dir() -> Path | None:
    value = os.environ.get(ENV, "").strip()
    return Path(value) if value else None


def record(kind: str, **fields: Any) -> None:
    """Append one JSON line to this process's ``<kind>-<pid>.jsonl`` in the probe folder."""
    folder = probe_dir()
    if folder is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"kind": kind, "pid": os.getpid(), "time": time.time(), **fields}, default=str)
    with open(folder / f"{kind}-{os.getpid()}.jsonl", "a", encoding="utf-8") as out:
        out.write(line + "\n")


def row_id(data_source: Any, extra_info: Any, index: Any) -> str:
    """A dataset row's identity across runs: its task, its own seed and its index in the dataset."""
    info = extra_info if isinstance(extra_info, dict) else {}
    return f"{data_source}|{info.get('seed')}|{info.get('index', index)}"


def _column(data, key: str) -> list:
    if key not in data.keys():
        return []
    value = data[key]
    if hasattr(value, "tolist"):
        return list(value.tolist())
    return list(value)


def optimizer_digest(state_dict: dict) -> tuple[str, int]:
    """SHA-256 of an optimizer ``state_dict``'s per-parameter tensors (DTensors by their local shard).

    Returns (hex digest, number of tensors). The same function reads the saved
    ``optim_world_size_W_rank_r.pt`` in :mod:`videossr.testing.train_checks`.
    """
    import torch

    digest = _Digest()
    for index, entries in sorted(state_dict.get("state", {}).items(), key=lambda item: str(item[0])):
        for key, value in sorted(entries.items()):
            if isinstance(value, torch.Tensor):
                local = value.to_local() if hasattr(value, "to_local") else value
                digest.add(f"{index}/{key}", local)
    return digest.hexdigest(), len(digest.parts)


class _Digest:
    """SHA-256 over ``(name, tensor)`` pairs in name order, independent of arrival order."""

    def __init__(self) -> None:
        self.parts: dict[str, str] = {}

    def add(self, name: str, tensor) -> None:
        import torch

        data = tensor.detach().contiguous().cpu().view(-1).view(dtype=torch.uint8).numpy().tobytes()
        self.parts[name] = hashlib.sha256(f"{tensor.dtype}{tuple(tensor.shape)}".encode() + data).hexdigest()

    def hexdigest(self) -> str:
        total = hashlib.sha256()
        for name in sorted(self.parts):
            total.update(name.encode() + b"\0" + self.parts[name].encode())
        return total.hexdigest()


# ------------------------------------------------------------------------------- the actor ranks


def _node() -> str | None:
    """The Ray node this process runs on (its IP address), or None outside Ray."""
    try:
        import ray

        return ray.util.get_node_ip_address() if ray.is_initialized() else None
    except Exception:  # noqa: BLE001 - a probe must never break the run
        return None


def _rank() -> tuple[int, int]:
    import torch.distributed as dist

    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)


def _rows_of(data) -> list[dict[str, Any]]:
    sources, infos, indices = _column(data, "data_source"), _column(data, "extra_info"), _column(data, "index")
    sessions, uids = _column(data, "session_id"), _column(data, "uid")
    rows = []
    for k in range(len(uids) or len(indices)):
        uid = str(uids[k]) if k < len(uids) else ""
        rows.append(
            {
                "row": row_id(
                    sources[k] if k < len(sources) else None,
                    infos[k] if k < len(infos) else None,
                    indices[k] if k < len(indices) else None,
                ),
                "session": sessions[k] if k < len(sessions) else None,
                "padding": uid.startswith("pad"),
            }
        )
    return rows


def _step_of(data) -> int | None:
    steps = _column(data, "global_steps")
    return int(steps[0]) if steps else None


def _correlation(output, data: dict) -> float | None:
    """Pearson correlation of the rank's token probabilities with vLLM's, over response tokens.

    The trainer's own computation (``calculate_debug_metrics``) on this rank's rows: the actor's
    log-probs come back nested over whole sequences and are cut to the responses with verl's
    ``response_from_nested``; the rollout's are nested over the responses.
    """
    import torch
    from verl.workers.utils.padding import response_from_nested

    def padded(value):
        return value.to_padded_tensor(0.0) if getattr(value, "is_nested", False) else value

    keys = output.keys() if output is not None else []
    if "log_probs" not in keys or "rollout_log_probs" not in data or "response_mask" not in data:
        return None
    mask_nested = data["response_mask"]
    actor = padded(response_from_nested(output["log_probs"], mask_nested)).float()
    rollout = padded(data["rollout_log_probs"]).float()
    mask = padded(mask_nested).bool()
    if not (actor.shape == rollout.shape == mask.shape) or mask.sum() < 2:
        raise ValueError(f"shapes actor {tuple(actor.shape)} rollout {tuple(rollout.shape)} mask {tuple(mask.shape)}")
    pair = torch.stack([actor.exp()[mask], rollout.exp()[mask]])
    return float(torch.corrcoef(pair)[0, 1])


def _install_worker(module) -> None:
    base = module.TrainingWorker

    class ProbedTrainingWorker(base):
        def train_mini_batch(self, data):
            rank, world = _rank()
            # Read before the update: train_mini_batch pops keys out of ``data``.
            step = _step_of(data)
            record("rows", rank=rank, world=world, node=_node(), step=step, rows=_rows_of(data))
            optimizer = getattr(getattr(self, "engine", None), "optimizer", None)
            if optimizer is not None and not self.__dict__.get("_videossr_optimizer_seen"):
                self.__dict__["_videossr_optimizer_seen"] = True
                digest, tensors = optimizer_digest(optimizer.state_dict())
                record("optimizer", rank=rank, world=world, step=step, digest=digest, tensors=tensors)
            return super().train_mini_batch(data)

        def infer_batch(self, data):
            rank, world = _rank()
            step, rows = _step_of(data), _rows_of(data)
            inputs = {key: data[key] for key in ("rollout_log_probs", "response_mask") if key in data.keys()}
            output = super().infer_batch(data)
            try:
                corr = _correlation(output, inputs)
                error = None
            except Exception as exc:  # noqa: BLE001 - recorded; the check reports it as a FAIL
                corr, error = None, f"{type(exc).__name__}: {exc}"
            record("logprobs", rank=rank, world=world, step=step, rows=len(rows), correlation=corr, error=error)
            return output

    module.ActorRolloutRefWorker.actor_worker_cls = ProbedTrainingWorker


def _install_sender(module) -> None:
    adapter = module.ServerAdapter
    original = adapter.update_weights

    async def update_weights(self, weights, *args, **kwargs):
        digest = _Digest()

        def hashed():
            for name, tensor in weights:
                digest.add(name, tensor)
                yield name, tensor

        result = await original(self, hashed(), *args, **kwargs)
        rank, world = _rank()
        step = kwargs.get("global_steps", args[0] if args else None)
        record(
            "sent",
            rank=rank,
            world=world,
            replica=getattr(self, "replica_rank", None),
            step=step,
            tensors=len(digest.parts),
            digest=digest.hexdigest(),
        )
        return result

    adapter.update_weights = update_weights


def _install_receiver(module) -> None:
    extension = module.vLLMColocateWorkerExtension
    original_update = extension._update_weights
    original_ipc = extension.update_weights_from_ipc

    def _update_weights(self, weights, *args, **kwargs):
        digest = self.__dict__.setdefault("_videossr_received", _Digest())
        materialised = [(name, tensor) for name, tensor in weights]
        for name, tensor in materialised:
            digest.add(name, tensor)  # before the bucket buffer is reused
        return original_update(self, materialised, *args, **kwargs)

    def update_weights_from_ipc(self, *args, **kwargs):
        self.__dict__["_videossr_received"] = _Digest()
        result = original_ipc(self, *args, **kwargs)
        received = self.__dict__.pop("_videossr_received")
        served = _Digest()
        for name, parameter in self.model_runner.model.named_parameters():
            served.add(name, parameter)
        calls = self.__dict__["_videossr_calls"] = self.__dict__.get("_videossr_calls", 0) + 1
        record(
            "received",
            replica=os.environ.get("VERL_REPLICA_RANK"),
            call=calls,
            tensors=len(received.parts),
            digest=received.hexdigest(),
            served=served.hexdigest(),
        )
        return result

    extension._update_weights = _update_weights
    extension.update_weights_from_ipc = update_weights_from_ipc


# ------------------------------------------------------------------------------- installation

_HOOKS: dict[str, Callable[[Any], None]] = {
    "verl.workers.engine_workers": _install_worker,
    "verl.workers.rollout.vllm_rollout.vllm_rollout": _install_sender,
    "verl.workers.rollout.vllm_rollout.utils": _install_receiver,
}


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs a hook right after one of :data:`_HOOKS`' modules has executed, once per process."""

    def find_spec(self, name, path, target=None):
        if name not in _HOOKS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _HookedLoader(spec.loader, _HOOKS[name])
                return spec
        return None


class _HookedLoader(importlib.abc.Loader):
    def __init__(self, loader, hook):
        self.loader, self.hook = loader, hook

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        self.hook(module)


def install() -> None:
    """Hook the three verl modules (now if already imported, else when they are)."""
    if probe_dir() is None or any(isinstance(f, _AfterImport) for f in sys.meta_path):
        return
    for name, hook in _HOOKS.items():
        if name in sys.modules:
            hook(sys.modules[name])
    sys.meta_path.insert(0, _AfterImport())


install()
