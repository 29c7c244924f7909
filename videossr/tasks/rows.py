"""verl training rows: the one row schema every data file of this project uses.

A row, as verl's ``RLHFDataset`` reads it::

    data_source   "grounding" | "counting" | "jigsaw"  (reward dispatch key)
    prompt        [{"role": "system", ...}, {"role": "user", "content": "<video>\\n..."}]
    videos        one entry per <video>: {"video": [absolute frame paths], "sample_fps",
                  "max_pixels", "min_pixels"}
    ability       "video_understanding"
    reward_model  {"style": "rule", "ground_truth": "..."}
    extra_info    everything needed to re-derive and check the ground truth (see EXTRA_INFO_FIELDS)

Every file, whatever its task, is written with the same Arrow schema (task-specific fields are
null where they do not apply), so verl can concatenate the files of a training mix.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from videossr.tasks.prompts import chat
from videossr.tasks.sample import Sample

ABILITY = "video_understanding"

#: Qwen-VL frame budgets of the training data (SPEC: 256x256 max, 128x128 min).
TRAIN_MAX_PIXELS = 256 * 256
TRAIN_MIN_PIXELS = 128 * 128

_SHAPE_FRAME = pa.struct([("frame_pos", pa.int64()), ("shape", pa.string()), ("num_instances", pa.int64())])

EXTRA_INFO_FIELDS = [
    pa.field("index", pa.int64()),  # row number in its file (verl reads it)
    pa.field("split", pa.string()),  # "train" | "val" | "test"
    pa.field("task", pa.string()),
    pa.field("video_id", pa.string()),
    pa.field("seed", pa.int64()),  # per-sample seed: regenerates the sample alone
    pa.field("sample_fps", pa.float64()),
    pa.field("question", pa.string()),
    pa.field("ground_truth", pa.string()),  # = reward_model.ground_truth
    pa.field("frames_dir", pa.string()),  # the sampled-frames folder the sample was made from
    # grounding
    pa.field("perturbation", pa.string()),
    pa.field("start_frame_pos", pa.int64()),
    pa.field("num_perturbed_frames", pa.int64()),
    # counting
    pa.field("difficulty", pa.string()),
    pa.field("counts", pa.list_(pa.int64())),  # circles, squares, triangles
    pa.field("shape_frames", pa.list_(_SHAPE_FRAME)),
    # jigsaw
    pa.field("num_clips", pa.int64()),
    pa.field("clip_order", pa.list_(pa.int64())),  # original clip shown at each position
    # every drawn parameter (zoom factor, permutation, shape geometry, ...), as JSON text
    pa.field("params", pa.string()),
]

ROW_SCHEMA = pa.schema(
    [
        pa.field("data_source", pa.string()),
        pa.field("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        pa.field(
            "videos",
            pa.list_(
                pa.struct(
                    [
                        ("video", pa.list_(pa.string())),
                        ("sample_fps", pa.float64()),
                        ("max_pixels", pa.int64()),
                        ("min_pixels", pa.int64()),
                    ]
                )
            ),
        ),
        pa.field("ability", pa.string()),
        pa.field("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
        pa.field("extra_info", pa.struct(EXTRA_INFO_FIELDS)),
    ]
)

_EXTRA_NAMES = [f.name for f in EXTRA_INFO_FIELDS]


def question_of(user_message: str) -> str:
    """The question text of a user message (without ``<video>`` placeholder lines)."""
    lines = [line for line in user_message.split("\n") if "<video>" not in line]
    return "\n".join(lines).strip()


def build_row(
    sample: Sample,
    frame_paths: Sequence[Sequence[str | Path]],
    *,
    seed: int,
    split: str,
    frames_dir: str | Path,
    max_pixels: int = TRAIN_MAX_PIXELS,
    min_pixels: int = TRAIN_MIN_PIXELS,
) -> dict[str, Any]:
    """The verl row of ``sample`` whose frames now live at ``frame_paths`` (absolute)."""
    extra = dict.fromkeys(_EXTRA_NAMES)
    extra.update(
        index=0,
        split=split,
        task=sample.task,
        video_id=sample.video_id,
        seed=int(seed),
        sample_fps=float(sample.sample_fps),
        question=question_of(sample.user_message),
        ground_truth=sample.ground_truth,
        frames_dir=str(frames_dir),
        params=json.dumps(sample.params, sort_keys=True),
    )
    unknown = set(sample.info) - set(_EXTRA_NAMES)
    if unknown:
        raise ValueError(f"sample info has fields outside the row schema: {sorted(unknown)}")
    extra.update(sample.info)
    return {
        "data_source": sample.task,
        "prompt": chat(sample.user_message),
        "videos": [
            {
                "video": [str(p) for p in paths],
                "sample_fps": float(sample.sample_fps),
                "max_pixels": int(max_pixels),
                "min_pixels": int(min_pixels),
            }
            for paths in frame_paths
        ],
        "ability": ABILITY,
        "reward_model": {"style": "rule", "ground_truth": sample.ground_truth},
        "extra_info": extra,
    }


def rows_to_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """An Arrow table of ``rows`` in :data:`ROW_SCHEMA` (raises if a row does not fit it)."""
    return pa.Table.from_pylist(list(rows), schema=ROW_SCHEMA)
