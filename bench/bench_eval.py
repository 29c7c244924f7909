"""Benchmark evaluation throughput: batched vs one-at-a-time transformers inference, in one run.

    one-at-a-time   the released eval's way: one request per generate call
    batched         our TransformersBackend with --batch-size N (left-padded batches)

Both answer the same VIUBench questions (built from the bundled sample clips) with the same tiny
random Qwen-VL checkpoint on CPU, greedy, the same token budget; items/s and the ratio are printed
per repeat. On GPUs, measure vLLM the same way (see the README):

    python eval/viubench.py run --benchmark B --backend vllm --model M --output-dir R   # prints items/s

Run:
    .venv/bin/python bench/bench_eval.py                      # Qwen3-VL, batch 8, 2 repeats
    .venv/bin/python bench/bench_eval.py --family qwen2_5_vl --batch-size 4 --items 16
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", default="qwen3_vl", choices=["qwen3_vl", "qwen2_5_vl"])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    args = parser.parse_args()

    from videossr.eval.backends.transformers_backend import TransformersBackend
    from videossr.eval.viubench import build_viubench, load_benchmark, request_of
    from videossr.frame_sampling import FrameSamplingConfig, run_frame_sampling
    from videossr.tiny_models import tiny_model_dir

    cache = REPO / "bench" / ".cache"
    frames = cache / "frames_samples"
    if not (frames / "manifest.json").exists():
        run_frame_sampling(FrameSamplingConfig(output_dir=frames, video_dir=[REPO / "data" / "videos"], workers=2))
    with tempfile.TemporaryDirectory() as tmp:
        bench = build_viubench(frames, Path(tmp), per_subtype=4, reuse_videos=True, workers=2)
        records = load_benchmark(bench)
        requests = [request_of(r, args.max_new_tokens) for r in (records * 4)[: args.items]]
        backend = TransformersBackend(str(tiny_model_dir(args.family, cache / "tiny_models")), device="cpu")
        backend.generate(requests[:1])  # warm-up
        print(f"eval benchmark: {args.family} tiny model on CPU, {len(requests)} VIUBench items, "
              f"batch {args.batch_size}, {args.repeats} repeats")  # fmt: skip
        ratios, single_rates, batched_rates = [], [], []
        for _ in range(args.repeats):
            started = time.perf_counter()
            for request in requests:
                backend.generate([request])
            single = len(requests) / (time.perf_counter() - started)
            started = time.perf_counter()
            for k in range(0, len(requests), args.batch_size):
                backend.generate(requests[k : k + args.batch_size])
            batched = len(requests) / (time.perf_counter() - started)
            single_rates.append(single)
            batched_rates.append(batched)
            ratios.append(batched / single)
        print(f"one-at-a-time {statistics.median(single_rates):.2f} items/s, batched {statistics.median(batched_rates):.2f} "
              f"items/s: {statistics.median(ratios):.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
