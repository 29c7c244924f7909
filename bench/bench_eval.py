"""Benchmark evaluation throughput, each comparison within one run.

--part model: batched vs one-at-a-time transformers inference
    one-at-a-time   the released eval's way: one request per generate call
    batched         our TransformersBackend with --batch-size N (left-padded batches)
--part prepare: request preparation on a long-video benchmark, k questions per video
    per-question    the previous path: every question probes and decodes its video
    decode-once     FrameCache + questions grouped by video, decoding (and prefetching) in threads
    1 / 2 workers   the same with --decode-workers 1 and 2 (spawned processes, one decode each)
  Long videos are synthesized once with ffmpeg (--video-seconds, 1280x720, 30 fps) under
  bench/.cache; preparation is timed through the runner's own batch preparation (4 threads).
--part both: model, then prepare.

Both answer the same VIUBench questions (built from the bundled sample clips) with the same tiny
random Qwen-VL checkpoint on CPU, greedy, the same token budget; items/s and the ratio are printed
per repeat. On GPUs, measure vLLM the same way (see the README):

    python eval/viubench.py run --benchmark B --backend vllm --model M --output-dir R   # prints items/s

Run:
    .venv/bin/python bench/bench_eval.py                      # Qwen3-VL, batch 8, 2 repeats
    .venv/bin/python bench/bench_eval.py --family qwen2_5_vl --batch-size 4 --items 16
    .venv/bin/python bench/bench_eval.py --part prepare --videos 4 --questions 3 --video-seconds 120
    .venv/bin/python bench/bench_eval.py --smoke              # both parts, fewest items, 2 s videos: a check
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "bench" / ".cache"
# --smoke: both parts on the fewest items (one batch of 2), 2 s videos, one repeat; its cache is a
# temporary folder, so it writes nothing into the repository.
SMOKE = {
    "part": "both",
    "items": 2,
    "batch_size": 2,
    "repeats": 1,
    "max_new_tokens": 2,
    "videos": 2,
    "questions": 2,
    "video_seconds": 2,
    "max_frames": 8,
}


def cache_folder(smoke: bool):
    """A context giving the cache folder: bench/.cache, or a temporary one for --smoke."""
    if smoke:
        return tempfile.TemporaryDirectory(prefix="bench-eval-smoke-")
    return contextlib.nullcontext(CACHE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", default="qwen3_vl", choices=["qwen3_vl", "qwen2_5_vl"])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--part", default="model", choices=["model", "prepare", "both"])
    parser.add_argument("--videos", type=int, default=4, help="prepare: long videos")
    parser.add_argument("--questions", type=int, default=3, help="prepare: questions per video (k)")
    parser.add_argument("--video-seconds", type=int, default=120, help="prepare: length of each synthetic video")
    parser.add_argument("--max-frames", type=int, default=48, help="prepare: protocol frames")
    parser.add_argument("--smoke", action="store_true", help=f"a quick check that the bench runs: {SMOKE}")
    if parser.parse_known_args()[0].smoke:
        parser.set_defaults(**SMOKE)  # flags given explicitly still win
    args = parser.parse_args()
    with cache_folder(args.smoke) as cache:
        if args.part in ("model", "both"):
            bench_model(args, Path(cache))
        if args.part in ("prepare", "both"):
            bench_prepare(args, Path(cache))


def bench_model(args, cache: Path) -> None:
    from videossr.eval.backends.transformers_backend import TransformersBackend
    from videossr.eval.viubench import build_viubench, load_benchmark, request_of
    from videossr.frames.build import FrameSamplingConfig, run_frame_sampling
    from videossr.testing.tiny_models import tiny_model_dir

    frames = cache / "frames_samples"
    if not (frames / "manifest.json").exists():
        run_frame_sampling(FrameSamplingConfig(output_dir=frames, video_dir=[REPO / "data" / "videos"], workers=2))
    with tempfile.TemporaryDirectory() as tmp:
        bench = build_viubench(frames, Path(tmp), per_subtype=4, reuse_videos=True, workers=2)
        records = load_benchmark(bench)
        requests = [request_of(r, args.max_new_tokens) for r in (records * 4)[: args.items]]
        backend = TransformersBackend(str(tiny_model_dir(args.family, cache / "tiny_models")), device="cpu")
        backend.generate(requests[:1])  # warm-up
        print(
            f"eval benchmark: {args.family} tiny model on CPU, {len(requests)} VIUBench items, "
            f"batch {args.batch_size}, {args.repeats} repeats"
        )
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
        print(
            f"one-at-a-time {statistics.median(single_rates):.2f} items/s, "
            f"batched {statistics.median(batched_rates):.2f} "
            f"items/s: {statistics.median(ratios):.2f}x"
        )


def _long_videos(count: int, seconds: int, cache: Path) -> Path:
    """``count`` synthetic 720p videos of ``seconds`` each (made once, kept under ``cache``)."""
    import subprocess

    folder = cache / f"long_videos_{seconds}s"
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        path = folder / f"long{k}.mp4"
        if not path.exists():
            tmp = path.with_suffix(".tmp.mp4")
            # Different hues so no two files are the same video; GOP 250 as typical web uploads have.
            subprocess.run(
                [
                    "ffmpeg",
                    "-loglevel",
                    "error",
                    "-y",
                    "-f",
                    "lavfi",
                    "-i",
                    f"testsrc2=size=1280x720:rate=30:duration={seconds}",
                    "-vf",
                    f"hue=h={40 * k}",
                    "-c:v",
                    "libx264",
                    "-preset",
                    "ultrafast",
                    "-g",
                    "250",
                    "-pix_fmt",
                    "yuv420p",
                    str(tmp),
                ],
                check=True,
            )
            tmp.rename(path)
    return folder


def bench_prepare(args, cache: Path) -> None:
    from videossr.eval import external
    from videossr.eval.run import _prepare

    folder = _long_videos(args.videos, args.video_seconds, cache)
    # Benchmark order interleaves videos (the worst case for a cache; Video-MME and LVBench files
    # group them, which group_by_video does anyway).
    records = [
        {"id": f"{v}-{q}", "video": f"long{v}", "question": "q\nA. a\nB. b", "answer": "A"}
        for q in range(args.questions)
        for v in range(args.videos)
    ]
    lookup = external.VideoLookup(folder)
    protocol = external.Protocol(max_frames=args.max_frames)
    errors = (Exception,)

    def timed(make, ids) -> float:
        started = time.perf_counter()
        for k in range(0, len(ids), args.batch_size):
            requests, failed = _prepare(ids[k : k + args.batch_size], make, errors)
            assert not failed, failed[0].error
        return len(ids) / (time.perf_counter() - started)

    ids = [r["id"] for r in records]
    by_id = {r["id"]: r for r in records}
    order = external.group_by_video(records)
    print(
        f"prepare benchmark: {args.videos} videos x {args.questions} questions, {args.video_seconds} s 1280x720 "
        f"30 fps, {args.max_frames} frames, batches of {args.batch_size}, {args.repeats} repeats"
    )
    rates: dict[str, list[float]] = {"per-question": [], "decode-once": [], "1 worker": [], "2 workers": []}
    for _ in range(args.repeats):
        rates["per-question"].append(timed(lambda i: external.make_request("vqa", by_id[i], lookup, protocol), ids))
        for name, workers in (("decode-once", 0), ("1 worker", 1), ("2 workers", 2)):
            with external.FrameCache(max_videos=4, workers=workers) as cache:
                cache.wait_until_started()  # spawning worker processes is a one-off cost, not per item
                maker = external.RequestMaker("vqa", records, lookup, protocol, cache, order)
                rates[name].append(timed(maker, order))
    median = {name: statistics.median(values) for name, values in rates.items()}
    base = median["per-question"]
    print("  ".join(f"{name} {rate:.2f} items/s" for name, rate in median.items()))
    print(
        f"decode-once / per-question: {median['decode-once'] / base:.2f}x (k = {args.questions}); "
        f"2 workers / 1 worker: {median['2 workers'] / median['1 worker']:.2f}x; "
        f"2 workers / per-question: {median['2 workers'] / base:.2f}x"
    )


if __name__ == "__main__":
    main()
