"""Benchmark the pretext-task generators against the released code's approach, in one run.

    reference   the released scripts' way: one video at a time in one process; per perturbed
                frame PIL ``Image.open`` -> PIL operation -> PIL ``save`` (quality 75, PIL's
                default, as released); counting with OpenCV per frame (as released)
    ours        videossr.data.generation.generate_files: NumPy/OpenCV operations, worker processes, JPEG
                only for changed frames (quality 95), rows to parquet

Both read the same frames folder (sampled once from the benchmark's 720p clips with the default
512x512 budget, copied to --videos videos). Rows and files are written in both. Ratios are taken
within each repeat.

Run:
    .venv/bin/python bench/bench_generators.py                  # 200 videos, 2 repeats
    .venv/bin/python bench/bench_generators.py --videos 40 --repeats 3
    .venv/bin/python bench/bench_generators.py --smoke          # every generator, 2 short videos: a check
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "bench" / ".cache"
GENERATORS = ["ChannelSwap", "Mirror", "ZoomOut", "Rotate180", "Noise", "Blur", "counting/easy", "jigsaw/6"]
# --smoke: every generator, one repeat, on 2 videos sampled from the sampling benchmark's smoke set
# (2 x 3 s 720p clips, the clips set's encoding) in a temporary cache: nothing is written into the
# repository.
SMOKE = {"videos": 2, "repeats": 1}


def frames_folder(num_videos: int, cache: Path = CACHE, clip_set: str = "clips") -> Path:
    """A frames folder of ``num_videos`` videos (made once from the sampling benchmark's ``clip_set``)."""
    from bench_sample_frames import video_set

    from videossr.frames.build import FrameSamplingConfig, run_frame_sampling
    from videossr.frames.folder import load_index
    from videossr.io import write_jsonl_atomic

    base = cache / f"frames_{clip_set}"
    if not (base / "manifest.json").exists():
        clips = video_set(clip_set, cache)[:4]
        listing = cache / f"{clip_set}_list.txt"
        listing.write_text("".join(f"{c}\n" for c in clips))
        run_frame_sampling(FrameSamplingConfig(output_dir=base, video_list=listing, workers=os.cpu_count() or 1))
    target = cache / f"frames_{num_videos}"
    if not (target / "index.jsonl").exists():
        records = load_index(base)
        copies = []
        for k in range(num_videos):
            record = dict(records[k % len(records)], video_id=f"v{k:04d}")
            shutil.copytree(
                base / records[k % len(records)]["video_id"], target / record["video_id"], dirs_exist_ok=True
            )
            copies.append(record)
        write_jsonl_atomic(target / "index.jsonl", copies)
    return target


# ----------------------------------------------------------------------------- reference


def _pil_ops():
    from PIL import Image, ImageFilter, ImageOps

    def channel_swap(img):
        r, g, b = img.convert("RGB").split()
        return Image.merge("RGB", (b, g, r))

    def zoom_out(img):
        scale = random.uniform(1.2, 1.4)
        w, h = img.size
        small = img.resize((int(w / scale), int(h / scale)), Image.LANCZOS)
        canvas = Image.new("RGB", img.size, (0, 0, 0))
        canvas.paste(small, ((w - small.size[0]) // 2, (h - small.size[1]) // 2))
        return canvas

    def noise(img):
        array = np.array(img.convert("RGB"))
        noisy = array + np.random.normal(0, random.uniform(35, 70), array.shape)
        return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))

    return {
        "ChannelSwap": channel_swap,
        "Mirror": ImageOps.mirror,
        "ZoomOut": zoom_out,
        "Rotate180": lambda img: img.rotate(180),
        "Noise": noise,
        "Blur": lambda img: img.filter(ImageFilter.GaussianBlur(radius=2)),
    }


def reference_run(generator: str, frames_dir: Path, out_dir: Path) -> int:
    """The released scripts' approach, one video at a time; returns the number of samples."""
    import cv2
    from PIL import Image

    records = [json.loads(line) for line in (frames_dir / "index.jsonl").read_text().splitlines()]
    rows = []
    ops = _pil_ops()
    for record in records:
        video_dir = frames_dir / record["video_id"]
        frames = sorted((f for f in os.listdir(video_dir) if f.endswith(".jpg")), key=lambda f: int(f[:-4]))
        paths = [str(video_dir / f) for f in frames]
        target = out_dir / record["video_id"]
        target.mkdir(parents=True, exist_ok=True)
        if generator in ops:
            t = random.randint(8, 16)
            start = random.randint(0, len(frames) - t)
            for i in range(start, start + t):
                with Image.open(paths[i]) as img:
                    new_path = target / f"{i}_{generator.lower()}.jpg"
                    ops[generator](img).save(new_path)
                paths[i] = str(new_path)
            answer = f"{start / record['sample_fps']:.1f}-{(start + t) / record['sample_fps']:.1f}"
        elif generator == "counting/easy":
            counts = [0, 0, 0]
            for shape in range(3):
                for i in random.sample(range(len(frames)), random.randint(1, 3)):
                    image = cv2.imread(paths[i])
                    for _ in range(random.randint(1, 3)):
                        size = random.randint(image.shape[0] // 5, image.shape[0] * 2 // 5)
                        center = (
                            random.randint(size, image.shape[1] - size),
                            random.randint(size, image.shape[0] - size),
                        )
                        cv2.circle(image, center, size // 2, (200, 100, 50), -1)
                        counts[shape] += 1
                    new_path = target / f"{i}_shape{shape}.jpg"
                    cv2.imwrite(str(new_path), image)
                    paths[i] = str(new_path)
            answer = ",".join(map(str, counts))
        else:  # jigsaw/6: no pixels change
            order = list(range(6))
            random.shuffle(order)
            paths = [p for k in order for p in paths[k * 8 : (k + 1) * 8]]
            answer = "".join(str(order.index(k) + 1) for k in range(6))
        rows.append({"video_id": record["video_id"], "videos": paths, "answer": answer})
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), out_dir / "data.parquet")
    return len(rows)


# ----------------------------------------------------------------------------- ours


def ours_run(generator: str, frames_dir: Path, out_dir: Path, workers: int) -> int:
    from videossr.data.generation import GenerationSettings, generate_files
    from videossr.frames.folder import load_index
    from videossr.tasks.registry import spec_of

    spec = spec_of(generator if "/" in generator else f"grounding/{generator}")
    ids = [r["video_id"] for r in load_index(frames_dir)]
    (summary,) = generate_files(frames_dir, out_dir, [(spec, ids)], GenerationSettings(), workers=workers)
    return summary.num_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--generators", nargs="+", default=GENERATORS, choices=GENERATORS)
    parser.add_argument("--smoke", action="store_true", help=f"a quick check that the bench runs: {SMOKE}")
    if parser.parse_known_args()[0].smoke:
        parser.set_defaults(**SMOKE)  # flags given explicitly still win
    args = parser.parse_args()
    from bench_sample_frames import cache_folder

    with cache_folder(args.smoke) as cache:
        frames_dir = frames_folder(args.videos, Path(cache), "smoke" if args.smoke else "clips")
        run(args, frames_dir)


def run(args, frames_dir: Path) -> None:
    print(f"generator benchmark: {args.videos} videos, {args.workers} workers, {args.repeats} repeats")
    print(f"{'generator':<13}{'ref samples/s':>15}{'ours samples/s':>16}{'speed-up':>10}")
    for generator in args.generators:
        ref_times, our_times = [], []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                started = time.perf_counter()
                count = reference_run(generator, frames_dir, Path(tmp) / "ref")
                ref_times.append(time.perf_counter() - started)
                started = time.perf_counter()
                assert ours_run(generator, frames_dir, Path(tmp) / "ours", args.workers) == count
                our_times.append(time.perf_counter() - started)
        ratio = statistics.median(r / o for r, o in zip(ref_times, our_times))
        print(
            f"{generator:<13}{args.videos / statistics.median(ref_times):>15.1f}"
            f"{args.videos / statistics.median(our_times):>16.1f}{ratio:>9.2f}x"
        )


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
