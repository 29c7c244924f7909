"""Which Qwen-VL family a model is, and the vision patch size verl's ``data.image_patch_size`` needs.

The one place that knows it: ``train/train.sh`` asks this module (``python -m
videossr.training.models MODEL_PATH [FAMILY]`` prints ``<family> <patch size>``) and the dry run
checks a local model against it.

Qwen3-VL cuts 16-pixel patches, Qwen2.5-VL (and Qwen2-VL) 14; qwen-vl-utils resizes frames to
multiples of twice the patch size, so a wrong ``image_patch_size`` changes every frame's size.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from videossr.errors import ConfigError

PATCH_SIZE_OF_MODEL_TYPE = {"qwen3_vl": 16, "qwen3_vl_moe": 16, "qwen2_5_vl": 14, "qwen2_vl": 14}


def model_type_of(model_path: str) -> str:
    """``model_type`` of a local model folder (its ``config.json``), else guessed from a hub id.

    A hub id is not fetched: ``*qwen2.5-vl*`` / ``*qwen2_5_vl*`` is Qwen2.5-VL, anything else Qwen3-VL.
    """
    config_file = Path(model_path) / "config.json"
    if config_file.is_file():
        return str(json.loads(config_file.read_text(encoding="utf-8")).get("model_type", ""))
    name = model_path.lower()
    return "qwen2_5_vl" if any(tag in name for tag in ("qwen2.5-vl", "qwen2_5_vl", "qwen2_5-vl")) else "qwen3_vl"


def patch_size_of(model_type: str) -> int:
    """The vision patch size of a Qwen-VL ``model_type``; ConfigError names the supported ones."""
    if model_type not in PATCH_SIZE_OF_MODEL_TYPE:
        raise ConfigError(
            f"model_type {model_type!r} is not a Qwen-VL family VideoSSR trains "
            f"({', '.join(PATCH_SIZE_OF_MODEL_TYPE)}): set MODEL_FAMILY=qwen3_vl or qwen2_5_vl"
        )
    return PATCH_SIZE_OF_MODEL_TYPE[model_type]


def main(argv: list[str] | None = None) -> int:
    """``MODEL_PATH [FAMILY]`` -> prints ``<family> <patch size>`` (FAMILY, when given, wins)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not 1 <= len(args) <= 2:
        print("usage: python -m videossr.training.models MODEL_PATH [FAMILY]", file=sys.stderr)
        return 2
    family = args[1] if len(args) == 2 and args[1] else model_type_of(args[0])
    try:
        print(family, patch_size_of(family))
    except ConfigError as exc:
        print(f"train.sh: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
