"""Benchmark frame sampling against the released code's approach, in one run.

Approaches, each over the same videos with the same number of worker processes:

    reference       the released sample_frames.py: decord ``VideoReader`` (default threads)
                    + ``get_batch`` of the 48 indices at full resolution + ``cv2.imwrite`` per frame
    reference-1t    the same with one decoder thread per worker (the released code's cheapest fix)
    ours            pretext_tasks/sample_frames.py defaults (512x512 pixel budget)
    ours-fullres    ours with --max-pixels 0: full-resolution JPEGs, like the reference writes
    ours-decode     our decoder alone, no pixel conversion, no JPEG: the floor of our design
    ffmpeg-decode   ``ffmpeg -threads 1 -i VIDEO -f null -``: decoding every frame, no output

Each approach runs in a fresh child process (so peak memory is its own); the figure reported is
the peak resident memory of any one of its processes. Repeats alternate the approaches, and
ratios are taken within each repeat, so drift of this shared machine cancels out.

Video sets (made once with FFmpeg into ``bench/.cache/``):
    clips    20 x 30 s 1280x720 H.264 (B-frames, 2 s GOP) cut from Big Buck Bunny
    long     one 10-minute 1280x720 H.264 video
    lowres   the four bundled sample clips (176x144 .. 1280x720, 4-10 s)
    smoke    2 x 3 s clips made as clips are (for --smoke)

Run:
    .venv/bin/python bench/bench_sample_frames.py                 # all sets, 2 repeats
    .venv/bin/python bench/bench_sample_frames.py --sets clips --repeats 3 --workers 2
    .venv/bin/python bench/bench_sample_frames.py --smoke         # smoke set, every approach once: a check
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "bench" / ".cache"
SAMPLE_DIR = REPO / "data" / "videos"
APPROACHES = ["reference", "reference-1t", "ours", "ours-fullres", "ours-decode", "ffmpeg-decode"]
NUM_FRAMES = 48
# --smoke: every approach once on the smoke set (2 x 3 s, encoded like the clips set into a
# temporary cache, so it writes nothing into the repository).
SMOKE = {"sets": ["smoke"], "repeats": 1}


# ----------------------------------------------------------------------------- video sets


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def _encode_from_bunny(target: Path, seconds: int, hue: int) -> None:
    tmp = target.with_suffix(".part.mp4")
    _ffmpeg(
        "-stream_loop",
        "-1",
        "-i",
        str(SAMPLE_DIR / "bigbuckbunny.mp4"),
        "-t",
        str(seconds),
        "-vf",
        f"fps=30,hue=h={hue}",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-g",
        "60",
        "-bf",
        "3",
        "-pix_fmt",
        "yuv420p",
        "-an",
        str(tmp),
    )
    tmp.rename(target)


def _clip_set(folder: Path, *, num_distinct: int, num_clips: int, seconds: int) -> list[Path]:
    """``num_clips`` clips of ``seconds`` each, copies of ``num_distinct`` differently hued ones."""
    distinct = []
    for k in range(num_distinct):
        path = folder / f"distinct_{k}.mp4"
        if not path.exists():
            print(f"encoding {path.name} (once)...", flush=True)
            _encode_from_bunny(path, seconds, hue=90 * k)
        distinct.append(path)
    videos = []
    for k in range(num_clips):
        path = folder / f"clip_{k:02d}.mp4"
        if not path.exists():
            shutil.copy(distinct[k % num_distinct], path)
        videos.append(path)
    return videos


def video_set(name: str, cache: Path = CACHE) -> list[Path]:
    """The videos of set ``name``, encoded on first use under ``cache``."""
    if name == "lowres":
        return sorted(SAMPLE_DIR.glob("*.mp4"))
    folder = cache / name
    folder.mkdir(parents=True, exist_ok=True)
    if name == "clips":
        return _clip_set(folder, num_distinct=4, num_clips=20, seconds=30)
    if name == "smoke":
        return _clip_set(folder, num_distinct=2, num_clips=2, seconds=3)
    if name == "long":
        path = folder / "long_10min_720p.mp4"
        if not path.exists():
            print("encoding a 10-minute 720p video (once, a few minutes)...", flush=True)
            _encode_from_bunny(path, 600, hue=0)
        return [path]
    raise SystemExit(f"unknown set {name!r}")


# ----------------------------------------------------------------------------- workers


def _released_indices(total: int) -> list[int]:
    start, end = int(total * 0.05), int(total * 0.95)
    step = (end - start) // NUM_FRAMES
    return [start + i * step for i in range(NUM_FRAMES)]


def _reference_one(job: tuple[str, str, int]) -> int:
    """The released code's per-video function (decord + cv2.imwrite), minus its silent except."""
    import cv2
    from decord import VideoReader, cpu

    video, out_dir, threads = job
    reader = VideoReader(video, ctx=cpu(0), num_threads=threads)
    frames = reader.get_batch(_released_indices(len(reader))).asnumpy()
    os.makedirs(out_dir, exist_ok=True)
    for i, frame in enumerate(frames):
        cv2.imwrite(os.path.join(out_dir, f"{i}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return len(frames)


def _ours_decode_one(job: tuple[str, int]) -> int:
    from videossr.frames.plan import plan_central_sampling
    from videossr.video.decoder import decode_frames, probe_video

    video, threads = job
    probe = probe_video(video)
    plan = plan_central_sampling(probe.num_frames, NUM_FRAMES)
    return sum(1 for _ in decode_frames(probe, plan.frame_indices, convert=False, threads=threads))


def _ffmpeg_decode_one(video: str) -> int:
    subprocess.run(["ffmpeg", "-v", "error", "-threads", "1", "-i", video, "-f", "null", "-"], check=True)
    return NUM_FRAMES


def run_approach(approach: str, videos: list[str], workers: int, out_dir: str) -> dict:
    """Run one approach to completion in this process (+ its workers); returns timings."""
    from concurrent.futures import ProcessPoolExecutor

    started = time.perf_counter()
    if approach in ("ours", "ours-fullres"):
        from videossr.frames.build import FrameSamplingConfig, run_frame_sampling

        list_file = Path(out_dir) / "videos.txt"
        list_file.write_text("".join(f"{v}\t{Path(v).stem}\n" for v in videos))
        summary = run_frame_sampling(
            FrameSamplingConfig(
                output_dir=Path(out_dir) / "frames",
                video_list=list_file,
                workers=workers,
                max_pixels=0 if approach == "ours-fullres" else 512 * 512,
            )
        )
        frames = summary.frames_written
        if summary.failed:
            raise RuntimeError(f"{approach}: {summary.failures}")
    elif approach in ("reference", "reference-1t"):
        threads = 0 if approach == "reference" else 1
        jobs = [(v, os.path.join(out_dir, Path(v).stem), threads) for v in videos]
        # The released code's pool: ProcessPoolExecutor with the platform's default start method.
        with ProcessPoolExecutor(max_workers=workers) as pool:
            frames = sum(pool.map(_reference_one, jobs))
    elif approach == "ours-decode":
        from videossr.parallel import available_cpus, map_unordered

        pool_size = min(workers, len(videos))
        jobs = [(v, max(1, available_cpus() // pool_size)) for v in videos]  # as run_frame_sampling does
        frames = sum(n for _, n in map_unordered(_ours_decode_one, jobs, pool_size))
    elif approach == "ffmpeg-decode":
        with ProcessPoolExecutor(max_workers=workers) as pool:
            frames = sum(pool.map(_ffmpeg_decode_one, videos))
    else:
        raise SystemExit(f"unknown approach {approach!r}")
    wall = time.perf_counter() - started
    peak_kib = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    )
    cpu = sum(
        getattr(resource.getrusage(who), f)
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        for f in ("ru_utime", "ru_stime")
    )
    return {"wall_s": wall, "frames": frames, "peak_mib": peak_kib / 1024, "cpu_s": cpu}


def _measure_in_child(approach: str, videos: list[Path], workers: int) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-{approach}-") as out_dir:
        cmd = [
            sys.executable,
            __file__,
            "--child",
            approach,
            "--workers",
            str(workers),
            "--out",
            out_dir,
            *map(str, videos),
        ]
        result = subprocess.run(cmd, check=True, capture_output=True, text=True)
        return json.loads(result.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", default=["clips", "long", "lowres"])
    parser.add_argument("--approaches", nargs="+", default=APPROACHES, choices=APPROACHES)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("videos", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--smoke", action="store_true", help=f"a quick check that the bench runs: {SMOKE}")
    if parser.parse_known_args()[0].smoke:
        parser.set_defaults(**SMOKE)  # flags given explicitly still win
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_approach(args.child, args.videos, args.workers, args.out)))
        return

    print(f"frame sampling benchmark: {args.workers} workers, {args.repeats} repeats, {os.cpu_count()} CPUs")
    with cache_folder(args.smoke) as cache:
        for set_name in args.sets:
            videos = video_set(set_name, Path(cache))
            # Warm the page cache so every approach reads from memory. A separate process does the
            # reading: bytes held here would inflate the peak-memory figure of every child we start.
            subprocess.run(["cat", *map(str, videos)], check=True, stdout=subprocess.DEVNULL)
            runs: dict[str, list[dict]] = {a: [] for a in args.approaches}
            for _ in range(args.repeats):
                for approach in args.approaches:
                    runs[approach].append(_measure_in_child(approach, videos, args.workers))
            _report(set_name, videos, runs)


def cache_folder(smoke: bool):
    """A context giving the cache folder: bench/.cache, or a temporary one for --smoke."""
    if smoke:
        return tempfile.TemporaryDirectory(prefix="bench-smoke-")
    return contextlib.nullcontext(CACHE)


def _report(set_name: str, videos: list[Path], runs: dict[str, list[dict]]) -> None:
    print(f"\n== {set_name}: {len(videos)} videos, {NUM_FRAMES} frames each")
    print(
        f"{'approach':<15}{'frames/s':>10}{'wall s':>9}{'CPU s':>8}{'peak MiB':>10}"
        f"{'speed vs ref':>14}{'mem vs ref':>12}"
    )
    reference = runs.get("reference")
    for approach, results in runs.items():
        wall = statistics.median(r["wall_s"] for r in results)
        frames_per_s = NUM_FRAMES * len(videos) / wall
        cpu = statistics.median(r["cpu_s"] for r in results)
        peak = max(r["peak_mib"] for r in results)
        speed = mem = ""
        if reference:
            ratios = [ref["wall_s"] / r["wall_s"] for ref, r in zip(reference, results)]
            speed = f"{statistics.median(ratios):.2f}x"
            mem = f"{peak / max(r['peak_mib'] for r in reference):.2f}x"
        print(f"{approach:<15}{frames_per_s:>10.1f}{wall:>9.2f}{cpu:>8.1f}{peak:>10.0f}{speed:>14}{mem:>12}")


if __name__ == "__main__":
    main()
