"""verl's CPU platform: lets verl 0.9.1's real GRPO trainer run without a GPU (tests only).

verl 0.9.1 knows CUDA, NPU and ROCm platforms only. This module adds a ``cpu`` one through verl's
own extension point, :class:`verl.plugin.platform.platform_manager.PlatformRegistry`, and is
loaded in every process of a run by verl's plugin hook::

    VERL_USE_EXTERNAL_MODULES=videossr.testing.verl_cpu_platform   # imported by verl/__init__.py
    VERL_PLATFORM=cpu                                               # selects the platform below
    VERL_ENGINE_DEVICE=cuda       # verl's FSDP engine is registered under "cuda" only
    VLLM_TARGET_DEVICE=cpu        # vLLM's CPU platform (vllm/platforms/__init__.py)

Every process that imports verl (the driver, Ray actors, vLLM's engine processes, which load
verl's worker extension) imports this module. It is for ``train/smoke_cpu.sh`` and the CPU tests;
nothing on the GPU path imports it, and without ``VERL_PLATFORM=cpu`` importing it only registers
the class and changes nothing else.

Ray: verl places its workers on the Ray resource ``"GPU"`` (``single_controller/ray/base.py``
reads ``node_info["GPU"]``), so the run starts Ray with ``num_gpus=1`` as a placeholder for "one
CPU worker slot"; no GPU is used or probed.

With ``VERL_PLATFORM=cpu`` set, importing this module also applies three small fixes that verl and
vLLM need on a CPU and offer no setting for (each wraps the original function and is applied once
per process):

1. ``torch.distributed.init_process_group``: verl builds the backend string
   ``f"cpu:gloo,{device}:{backend}"`` (``verl/utils/distributed.py``), which for the CPU device is
   ``"cpu:gloo,cpu:gloo"``; torch rejects a device named twice ("Duplicate device type cpu").
   The wrapper drops repeated ``device:backend`` entries.
2. ``torch.distributed.fsdp.CPUOffloadPolicy``: verl forces ``pin_memory=True`` for the FSDP2
   reference model (``verl/workers/engine/fsdp/transformer_impl.py``); pinning page-locks host
   memory for faster host-to-GPU copies and needs a CUDA driver. With no device to copy to,
   ``pin_memory=False`` is exactly equivalent.
3. vLLM's CPU linear layers (``vllm.model_executor.layers.utils.dispatch_cpu_unquantized_gemm``,
   vLLM 0.28) pre-pack each weight for oneDNN and then replace ``layer.weight`` by an empty
   parameter without a ``weight_loader``. verl's weight sync (``load_weights`` then
   ``process_weights_after_loading``) then fails with "'Parameter' object has no attribute
   'weight_loader'" and the trainer waits for it forever. The wrapper keeps the plain weights
   (``remove_weight=False``, as vLLM already does for embeddings), so each sync writes them and
   the following ``process_weights_after_loading`` packs the new values. Applied in processes
   that have imported vLLM when verl is imported (vLLM's engine processes load verl's worker
   extension only after vLLM itself); costs one extra copy of the linear weights. Without it the
   first sync fails in vLLM's worker and verl's trainer waits forever (checked on 2026-12-01).
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import torch
from verl.plugin.platform.platform_base import PlatformBase
from verl.plugin.platform.platform_manager import PlatformRegistry

logger = logging.getLogger(__name__)

#: The name ``VERL_PLATFORM`` selects.
PLATFORM_NAME = "cpu"


class CPUDeviceModule(ModuleType):
    """``torch.cpu`` plus the ``torch.cuda`` memory and RNG calls verl makes on its device module.

    The CPU has no memory of its own beside the host's: allocator statistics are 0, cache and
    allocator controls are no-ops, ``mem_get_info`` is the host's (available, total) bytes, and the
    RNG state is torch's default (CPU) generator's. Everything else is ``torch.cpu``'s.
    """

    def __init__(self) -> None:
        super().__init__("videossr_cpu_device", "torch.cpu as verl's device module")

    def __getattr__(self, name: str) -> Any:
        return getattr(torch.cpu, name)

    @staticmethod
    def empty_cache() -> None:
        return None

    @staticmethod
    def ipc_collect() -> None:
        return None

    @staticmethod
    def memory_allocated(device: Any = None) -> int:
        return 0

    memory_reserved = max_memory_allocated = max_memory_reserved = memory_allocated

    @staticmethod
    def reset_peak_memory_stats(device: Any = None) -> None:
        return None

    @staticmethod
    def set_per_process_memory_fraction(fraction: float, device: Any = None) -> None:
        return None

    @staticmethod
    def memory_stats(device: Any = None) -> dict[str, int]:
        return {}

    @staticmethod
    def mem_get_info(device: Any = None) -> tuple[int, int]:
        import psutil

        memory = psutil.virtual_memory()
        return int(memory.available), int(memory.total)

    @staticmethod
    def get_device_name(device: Any = None) -> str:
        return "cpu"

    @staticmethod
    def get_rng_state(device: Any = None) -> torch.Tensor:
        return torch.get_rng_state()

    @staticmethod
    def set_rng_state(state: torch.Tensor, device: Any = None) -> None:
        torch.set_rng_state(state)

    @staticmethod
    def manual_seed(seed: int) -> None:
        torch.manual_seed(seed)

    manual_seed_all = manual_seed


_DEVICE_MODULE = CPUDeviceModule()


@PlatformRegistry.register(platform=PLATFORM_NAME)
class PlatformCPU(PlatformBase):
    """The host CPU as verl's single "device": gloo collectives, no streams, no profiler."""

    @property
    def device_name(self) -> str:
        return "cpu"

    @property
    def vendor_name(self) -> str:
        return "cpu"

    @property
    def device_module(self) -> ModuleType:
        return _DEVICE_MODULE

    def is_available(self) -> bool:
        return True

    def is_platform_available(self, use_smi_check: bool = False) -> bool:
        # Only ever chosen explicitly (VERL_PLATFORM=cpu), never by auto-detection.
        return False

    def current_device(self) -> str:  # type: ignore[override]
        # A device string, not an index: verl passes it to ``tensor.to(...)`` and FSDP2, where
        # an int would mean "cuda:<int>". ``torch.cpu.current_device()`` is "cpu".
        return torch.cpu.current_device()

    def device_count(self) -> int:
        return 1

    def set_device(self, device_index: int) -> None:
        return None  # one CPU device: nothing to select

    def synchronize(self, device_index: int | None = None) -> None:
        torch.cpu.synchronize()

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def set_allocator_settings(self, settings: str) -> None:
        return None  # CUDA caching-allocator options; the CPU allocator has none

    def empty_cache(self) -> None:
        return None

    def get_device_capability(self, device_index: int = 0) -> tuple[int | None, int | None]:
        return None, None

    def communication_backend_name(self) -> str:
        return "gloo"

    def visible_devices_envvar(self) -> str:
        # Ray sets it for the placeholder "GPU" slot; nothing on a CPU reads it.
        return "CUDA_VISIBLE_DEVICES"

    @contextmanager
    def nvtx_range(self, msg: str):
        yield

    def profiler_start(self) -> None:
        return None

    def profiler_stop(self) -> None:
        return None

    def ray_resource_name(self) -> str:
        return "GPU"  # the placeholder slot, see the module docstring

    def ray_noset_envvars(self) -> list[str]:
        return ["RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"]

    def is_ipc_supported(self) -> bool:
        # No CUDA IPC handles: verl's weight sync then uses its shared-memory buckets.
        return False

    def rollout_env_vars(self) -> dict[str, str]:
        return {"VLLM_TARGET_DEVICE": "cpu"}

    def cudart(self) -> Any:
        return None


# --------------------------------------------------------------------------------------------
# Fixes applied when the CPU platform is selected (module docstring, items 1-3)
# --------------------------------------------------------------------------------------------


def dedupe_backend(backend: Any) -> Any:
    """``backend`` with repeated ``device:backend`` entries dropped; other values unchanged.

    >>> dedupe_backend("cpu:gloo,cpu:gloo")
    'cpu:gloo'
    >>> dedupe_backend("cpu:gloo,cuda:nccl")
    'cpu:gloo,cuda:nccl'
    >>> dedupe_backend(None) is None
    True
    """
    if not isinstance(backend, str) or "," not in backend:
        return backend
    parts = [part.strip() for part in backend.split(",") if part.strip()]
    return ",".join(dict.fromkeys(parts))


def _patch_init_process_group() -> None:
    import torch.distributed as dist

    original = dist.init_process_group
    if getattr(original, "_videossr_cpu", False):
        return

    @functools.wraps(original)
    def init_process_group(*args, **kwargs):
        if "backend" in kwargs:
            kwargs["backend"] = dedupe_backend(kwargs["backend"])
        elif args:
            args = (dedupe_backend(args[0]), *args[1:])
        return original(*args, **kwargs)

    init_process_group._videossr_cpu = True  # type: ignore[attr-defined]
    dist.init_process_group = init_process_group


def _patch_cpu_offload_policy() -> None:
    from torch.distributed.fsdp import CPUOffloadPolicy

    original = CPUOffloadPolicy.__init__
    if getattr(original, "_videossr_cpu", False):
        return

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.pin_memory = False

    __init__._videossr_cpu = True  # type: ignore[attr-defined]
    CPUOffloadPolicy.__init__ = __init__


def _patch_vllm_cpu_linear() -> bool:
    """Keep vLLM's plain linear weights (item 3); False when vLLM has no such dispatch here."""
    try:
        from vllm.model_executor.layers import utils as layer_utils
    except ImportError:
        return False
    original = getattr(layer_utils, "dispatch_cpu_unquantized_gemm", None)
    if original is None:
        return False
    if getattr(original, "_videossr_cpu", False):
        return True

    @functools.wraps(original)
    def dispatch_cpu_unquantized_gemm(layer, remove_weight: bool, *args, **kwargs):
        return original(layer, False, *args, **kwargs)

    dispatch_cpu_unquantized_gemm._videossr_cpu = True  # type: ignore[attr-defined]
    layer_utils.dispatch_cpu_unquantized_gemm = dispatch_cpu_unquantized_gemm
    return True


def apply_cpu_fixes() -> None:
    """Apply the module docstring's fixes 1-3 in this process (idempotent)."""
    _patch_init_process_group()
    _patch_cpu_offload_policy()
    # Only where vLLM is already loaded (its engine processes): importing it elsewhere would cost
    # seconds per Ray worker for nothing.
    if "vllm" in sys.modules and _patch_vllm_cpu_linear():
        logger.info("videossr CPU platform: vLLM linear layers keep their weights for verl's weight sync")


if os.environ.get("VERL_PLATFORM", "").strip().lower() == PLATFORM_NAME:
    apply_cpu_fixes()
