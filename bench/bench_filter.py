"""Benchmark verl's over-long-prompt filter against ours (no frame decoding), in one run.

Both run on the same rows (the training mix's six files built from the bundled clips, repeated
to --rows rows; every file keeps its frames) with the same tiny model's processor:

    verl      verl 0.9.1's RLHFDataset.maybe_filter_out_long_prompts (decodes every frame)
    ours      videossr.training.dataset.VideoSSRDataset (frame headers + cached blank-clip shapes)

in this process (filter_overlong_prompts_workers: null) and single-threaded torch, and prints
rows/s of each, the speed-up, and whether every row got the same length. verl gets --verl-rows
of the rows (it is ~100x slower). The absolute rates depend on the machine; the ratio, the point of
the benchmark, much less.

Run:
    .venv/bin/python bench/bench_filter.py                         # 2000 rows ours, 60 verl, Qwen3-VL
    .venv/bin/python bench/bench_filter.py --family qwen2_5_vl --rows 6000 --verl-rows 120
    .venv/bin/python bench/bench_filter.py --smoke                 # 8 rows ours, 2 verl: a check, not a measurement
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# --smoke: the whole path (sampling, the mix, both filters) on the fewest rows.
SMOKE = {"rows": 8, "verl_rows": 2}


def _rows_file(out: Path, rows: int) -> Path:
    """One parquet of ``rows`` rows, cycling through the mix's rows (all tasks, all clips)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from videossr.data.generation import GenerationSettings
    from videossr.data.mix import build_mix, get_recipe
    from videossr.frames.build import FrameSamplingConfig, run_frame_sampling

    frames = out / "frames"
    run_frame_sampling(FrameSamplingConfig(output_dir=frames, video_dir=[REPO / "data" / "videos"], workers=2))
    mix = build_mix(
        frames, out / "mix", get_recipe("videossr-30k"), GenerationSettings(seed=0), workers=2, reuse_videos=True
    )
    # The training files, as the mix names them (mix/<task>/<variant>.parquet); not val.parquet.
    tables = [pq.read_table(part.path) for part in sorted(mix.train, key=lambda part: part.key)]
    table = pa.concat_tables(tables, promote_options="default")
    picked = table.take([i % table.num_rows for i in range(rows)])
    path = out / f"rows{rows}.parquet"
    pq.write_table(picked, path)
    return path


def _head(path: Path, rows: int) -> Path:
    """The first ``rows`` rows of ``path`` in a file of their own."""
    import pyarrow.parquet as pq

    head = path.with_name(f"head{rows}.parquet")
    pq.write_table(pq.read_table(path).slice(0, rows), head)
    return head


def _lengths(dataset_cls, path: Path, processor, cache: Path) -> tuple[list[int], float]:
    """Each row's prompt length as the class's filter computes it, and the seconds it took."""
    from omegaconf import OmegaConf

    config = OmegaConf.create(
        {
            "filter_overlong_prompts": False,
            "video_key": "videos",
            "cache_dir": str(cache),
            "image_patch_size": processor.image_processor.patch_size,
            "max_prompt_length": 8192,
            "filter_overlong_prompts_workers": None,
        }
    )
    dataset = dataset_cls(data_files=[str(path)], tokenizer=processor.tokenizer, config=config, processor=processor)
    dataset.filter_overlong_prompts = True
    seen: list[int] = []
    dataset.max_prompt_length = 10**9  # keep every row; record lengths through the same code path

    import verl.utils.dataset.rl_dataset as rl

    original = rl.build_multimodal_processor_inputs

    def recording(*args, **kwargs):
        out = original(*args, **kwargs)
        if kwargs.get("text") and kwargs["text"][0] != "<|vision_start|><|video_pad|><|vision_end|>":
            seen.append(len(out["input_ids"][0]))
        return out

    started = time.perf_counter()
    if dataset_cls is rl.RLHFDataset:
        rl.build_multimodal_processor_inputs = recording
        try:
            dataset.maybe_filter_out_long_prompts(dataset.dataframe)
        finally:
            rl.build_multimodal_processor_inputs = original
    else:
        seen = [dataset.prompt_length(dataset.dataframe[i]) for i in range(len(dataset.dataframe))]
        # ... and the filter itself, as training runs it (same per-row work, through datasets.filter)
        started_filter = time.perf_counter()
        dataset.maybe_filter_out_long_prompts(dataset.dataframe)
        return seen, time.perf_counter() - started_filter
    return seen, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", default="qwen3_vl", choices=["qwen3_vl", "qwen2_5_vl"])
    parser.add_argument("--rows", type=int, default=2000, help="rows for our filter")
    parser.add_argument("--verl-rows", type=int, default=60, help="rows (the first ones) for verl's filter")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--smoke", action="store_true", help=f"a quick check that the bench runs: {SMOKE}")
    if parser.parse_known_args()[0].smoke:
        parser.set_defaults(**SMOKE)  # flags given explicitly still win
    args = parser.parse_args()

    import torch
    from transformers import AutoProcessor
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from videossr.testing.tiny_models import tiny_model_dir
    from videossr.training.dataset import VideoSSRDataset

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="bench-filter-") as scratch:
        scratch = Path(scratch)
        path = _rows_file(scratch, max(args.rows, args.verl_rows))
        processor = AutoProcessor.from_pretrained(tiny_model_dir(args.family, scratch / "tiny"))
        verl_lengths, verl_seconds = _lengths(RLHFDataset, _head(path, args.verl_rows), processor, scratch / "c1")
        our_lengths, our_seconds = _lengths(VideoSSRDataset, _head(path, args.rows), processor, scratch / "c2")
    same = our_lengths[: len(verl_lengths)] == verl_lengths
    result = {
        "family": args.family,
        "verl_rows": len(verl_lengths),
        "verl_rows_per_s": len(verl_lengths) / verl_seconds,
        "ours_rows": args.rows,
        "ours_rows_per_s": args.rows / our_seconds,
        "speedup": (args.rows / our_seconds) / (len(verl_lengths) / verl_seconds),
        "same_lengths_on_common_rows": same,
    }
    print(
        f"verl's filter: {result['verl_rows']} rows, {result['verl_rows_per_s']:.2f} rows/s "
        f"(30K rows: {30000 / result['verl_rows_per_s'] / 3600:.1f} h)"
    )
    print(
        f"our filter:    {args.rows} rows, {result['ours_rows_per_s']:.1f} rows/s "
        f"(30K rows: {30000 / result['ours_rows_per_s'] / 60:.1f} min)"
    )
    print(f"speed-up x{result['speedup']:.0f}; same length for all {len(verl_lengths)} rows both saw: {same}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
