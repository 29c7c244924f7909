"""A short supervised warm start of a tiny Qwen-VL, so that it answers each pretext task in its format.

Why: a randomly initialised tiny model never writes a parsable answer, so every real reward is 0,
and with it every GRPO advantage and gradient. After a few hundred supervised steps on generated
rows it writes ``c,s,t``, ``a-b`` and digit orders: rewards vary, and GRPO on the real reward has
something to learn from (issue 27's CPU learning benchmark). A tiny model cannot read the pixels:
what it learns here is the answers' format and prior, nothing about the videos.

What runs: transformers' ``Trainer`` on the CPU, one example per step, the loss on the answer
tokens only (the ground truth, then ``<|im_end|>``). The rows come from a frames folder through the
same generators as the training files (:func:`videossr.data.generation.build_sample_row`, the
VideoSSR-30K tasks in turn, a fresh seed per example), and prompts are built exactly as
evaluation and verl build them (:func:`videossr.eval.backends.base.build_messages` and the
model's processor, each video at its ``sample_fps``).

Not verl's SFT trainer: verl 0.9.1's ``MultiTurnSFTDataset`` computes Qwen-VL position ids with
the Qwen2-VL rule (``verl/models/transformers/qwen2_vl.py`` ``get_rope_index``) for every
processor with a ``Qwen2VLImageProcessor``, Qwen3-VL's included; a Qwen3-VL video is one vision
block per 2-frame group, so a one-video row fails with ``IndexError: index 1 is out of bounds for
dimension 0 with size 1`` (seen with ``torchrun -m verl.trainer.sft_trainer`` on the CPU platform,
after the model had loaded and training had started).

Cached like the tiny models: a finished folder holds :data:`MARKER_NAME`, written last, naming
what it was built from; building again with the same inputs is a no-op.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from videossr.data.generation import GenerationSettings, build_sample_row, partner_for
from videossr.data.mix import get_recipe
from videossr.errors import ConfigError, VideoError
from videossr.eval.backends.base import build_messages, request_of_row, vision_inputs
from videossr.frames.folder import load_index
from videossr.tasks.registry import get_task
from videossr.tasks.rows import TRAIN_MAX_PIXELS, TRAIN_MIN_PIXELS
from videossr.tasks.seeds import derive_seed

logger = logging.getLogger(__name__)

MARKER_NAME = "warm_start.json"
#: Bumped whenever what a warm start does changes, so cached folders are rebuilt.
FORMAT_VERSION = 3  # 3: the tasks in turn (a third of the rows each)


@dataclass(frozen=True)
class WarmStartSettings:
    """What a warm start is made from (recorded in its marker)."""

    examples: int = 96  # generated rows, the tasks in turn
    steps: int = 600  # optimiser steps, one example each (the rows repeat, shuffled)
    learning_rate: float = 2e-3  # constant; large, for a tiny random model
    seed: int = 0  # rows' seeds, data order and initialisation of the trainer
    max_pixels: int = TRAIN_MAX_PIXELS  # the rows' frame budget (the training files' by default)
    min_pixels: int = TRAIN_MIN_PIXELS


def generate_rows(
    frames_dir: str | Path,
    count: int,
    seed: int,
    sample_root: Path,
    *,
    max_pixels: int = TRAIN_MAX_PIXELS,
    min_pixels: int = TRAIN_MIN_PIXELS,
) -> list[dict[str, Any]]:
    """``count`` training rows of the VideoSSR-30K variants over the folder's videos, the tasks in turn.

    Row ``k`` is of task ``k % T`` (T tasks), so every task gets a third of the rows although
    grounding has four variants and the others one (a warm start, or a validation mean over
    tasks, is then not ruled by grounding). A task's ``j``-th row (``j = k // T``) is on video
    ``j % V`` (V videos), variant ``(j + j // V) % P`` of the task's P, with seed
    ``derive_seed(seed, "warm-start", k)``; a video that cannot carry a sample is skipped. Frames
    are shown at ``max_pixels``/``min_pixels`` (the rows' ``videos`` entries).
    """
    frames_dir = Path(frames_dir)
    records = load_index(frames_dir)
    if not records:
        raise ConfigError(f"{frames_dir} holds no sampled videos")
    by_id = {r["video_id"]: r for r in records}
    by_task: dict[str, list] = {}
    for part in get_recipe("videossr-30k").parts:
        by_task.setdefault(part.spec.task, []).append(part.spec)
    tasks = list(by_task)
    settings = GenerationSettings(split="train", max_pixels=max_pixels, min_pixels=min_pixels)
    rows = []
    for k in range(count):
        variants, turn = by_task[tasks[k % len(tasks)]], k // len(tasks)
        # Shifted by one each pass over the videos, so that every variant meets every video.
        spec = variants[(turn + turn // len(records)) % len(variants)]
        record = records[turn % len(records)]
        task = get_task(spec.task)
        row_seed = derive_seed(seed, "warm-start", k)
        partner = None
        if task.needs_partner(spec.variant):
            partner_id = partner_for(row_seed, record["video_id"], list(by_id))
            partner = by_id[partner_id] if partner_id else None
        try:
            rows.append(
                build_sample_row(task, spec, frames_dir, record, partner, row_seed, sample_root / f"row{k}", settings)
            )
        except VideoError as exc:
            logger.info("row %d (%s, %s) skipped: %s", k, spec.key, record["video_id"], exc.reason)
    return rows


class _AnswerDataset:
    """Processor inputs of each row with its answer; labels only on the answer tokens."""

    def __init__(self, rows: list[dict[str, Any]], processor, patch_size: int):
        self.rows, self.processor, self.patch_size = rows, processor, patch_size

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.rows[index]
        messages = build_messages(request_of_row(row, str(index)))
        prompt = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        answer = str(row["reward_model"]["ground_truth"]) + "<|im_end|>"
        _, videos = vision_inputs(messages, self.patch_size)
        frames, metadata = zip(*videos)
        media = {"videos": list(frames), "video_metadata": list(metadata), "do_sample_frames": False}
        inputs = self.processor(text=[prompt + answer], return_tensors="pt", **media)
        # The answer's tokens end the sequence (the prompt ends in "assistant\n", so no token spans
        # the join): counting them spares a second pass of the frames through the processor.
        answer_length = len(self.processor.tokenizer(answer, add_special_tokens=False)["input_ids"])
        labels = inputs["input_ids"].clone()
        labels[:, : labels.shape[1] - answer_length] = -100
        return {**inputs, "labels": labels}


def _collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    if len(batch) != 1:
        raise ValueError("the warm start trains one example per step")
    return batch[0]


def warm_start(
    base_model: str | Path, frames_dir: str | Path, output_dir: str | Path, settings: WarmStartSettings
) -> Path:
    """Train ``base_model`` on generated rows into ``output_dir`` (a model folder); returns it.

    A folder already holding a finished warm start of the same inputs is returned as is.
    """
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor, Trainer, TrainingArguments

    base_model, output_dir = Path(base_model), Path(output_dir)
    wanted = {
        "format": FORMAT_VERSION,
        "base_model": str(base_model.resolve()),
        "frames_dir": str(Path(frames_dir).resolve()),
        **asdict(settings),
    }
    marker = output_dir / MARKER_NAME
    if marker.is_file() and json.loads(marker.read_text()) == wanted:
        return output_dir
    processor = AutoProcessor.from_pretrained(base_model)
    model = AutoModelForImageTextToText.from_pretrained(base_model, dtype=torch.float32)
    patch_size = int(getattr(processor.image_processor, "patch_size", 14))
    with tempfile.TemporaryDirectory(prefix="warm-start-") as scratch:
        rows = generate_rows(
            frames_dir,
            settings.examples,
            settings.seed,
            Path(scratch) / "frames",
            max_pixels=settings.max_pixels,
            min_pixels=settings.min_pixels,
        )
        if not rows:
            raise ConfigError(f"no training row could be made from {frames_dir}")
        arguments = TrainingArguments(
            output_dir=str(Path(scratch) / "trainer"),
            per_device_train_batch_size=1,
            max_steps=settings.steps,
            learning_rate=settings.learning_rate,
            lr_scheduler_type="constant",
            weight_decay=0.0,
            logging_steps=max(1, settings.steps // 10),
            save_strategy="no",
            report_to=[],
            use_cpu=True,
            seed=settings.seed,
            data_seed=settings.seed,
            dataloader_num_workers=0,
            remove_unused_columns=False,
            disable_tqdm=True,
        )
        trainer = Trainer(
            model=model,
            args=arguments,
            train_dataset=_AnswerDataset(rows, processor, patch_size),
            data_collator=_collate,
        )
        result = trainer.train()
        logger.info("warm start: %d steps, final training loss %.4f", settings.steps, result.training_loss)
    staging = output_dir.with_name(output_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    processor.save_pretrained(staging)
    for name in ("generation_config.json", "chat_template.jinja"):
        if (base_model / name).is_file() and not (staging / name).is_file():
            shutil.copy2(base_model / name, staging / name)
    (staging / MARKER_NAME).write_text(json.dumps(wanted, indent=2) + "\n")  # last: the folder is complete
    shutil.rmtree(output_dir, ignore_errors=True)
    staging.rename(output_dir)
    return output_dir


def answer_quality(model_dir: str | Path, rows: list[dict[str, Any]]) -> dict[str, float]:
    """Greedy answers of ``model_dir`` to ``rows``, scored by the training reward: the share of answers
    in the asked format (``parsed``) and the mean smooth and strict rewards."""
    from videossr.eval.backends.transformers_backend import TransformersBackend
    from videossr.rewards.scoring import compute_score

    backend = TransformersBackend(str(model_dir), device="cpu")
    try:
        generations = backend.generate([request_of_row(row, str(k), 32) for k, row in enumerate(rows)])
    finally:
        backend.close()
    scores = [
        compute_score(row["data_source"], g.response, row["reward_model"]["ground_truth"])
        for row, g in zip(rows, generations)
    ]
    return {key: sum(s[key] for s in scores) / len(scores) for key in ("parsed", "smooth", "strict")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, type=Path, help="the tiny model folder to start from")
    parser.add_argument("--frames-dir", required=True, type=Path, help="frames folder the rows are made from")
    parser.add_argument("--output-dir", required=True, type=Path, help="the warm-started model folder")
    for name, value in asdict(WarmStartSettings()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = WarmStartSettings(**{name: getattr(args, name) for name in asdict(WarmStartSettings())})
    out = warm_start(args.model, args.frames_dir, args.output_dir, settings)
    with tempfile.TemporaryDirectory(prefix="warm-start-check-") as scratch:
        pixels = {"max_pixels": settings.max_pixels, "min_pixels": settings.min_pixels}
        held_out = generate_rows(args.frames_dir, 12, args.seed + 1, Path(scratch), **pixels)
        before, after = answer_quality(args.model, held_out), answer_quality(out, held_out)
    print(f"held-out rows: parsed {before['parsed']:.2f} -> {after['parsed']:.2f}, "
          f"smooth reward {before['smooth']:.3f} -> {after['smooth']:.3f}")  # fmt: skip
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
