"""Measure the counting placement rules: overlaps, what the pixels show, what gives way, speed.

For each frame size (16:9, 9:16 and square at the default 512x512 budget, the 256x256 training
budget, and small frames) and each difficulty and placement rule, draws samples in memory on a
black frame (no colour channel of a shape is below 50, so every drawn pixel differs: the pixel
count is exact) and reports per marked frame:

    overlap>0 / >10% / >50%   frames where two instances share pixels (by more than 10 % / 50 %
                              of the smaller one's area); also for frames of 3 instances alone
    pixels!=declared          frames whose drawn pixels do not form exactly ``num_instances``
                              separate 8-connected shapes
    gave way                  separate placement: share of frames where the window widened, the
                              sizes shrank (in / below the 20-40 % range) or an instance was dropped
    size/short                mean instance size over the shorter side (the paper: U(0.2, 0.4), 0.30)
    ms                        time of make_counting_sample per sample (drawing included)

Run:
    .venv/bin/python bench/bench_counting_placement.py                 # 1000 samples per cell
    .venv/bin/python bench/bench_counting_placement.py --samples 200 --json out.json
    .venv/bin/python bench/bench_counting_placement.py --smoke         # 2 samples per cell: a check, not a measurement
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FRAMES = {  # name: (width, height)
    "16:9 682x384": (682, 384),
    "9:16 384x682": (384, 682),
    "square 512x512": (512, 512),
    "16:9 341x192 (train)": (341, 192),
    "square 256x256 (train)": (256, 256),
    "small 64x48": (64, 48),
    "smallest 36x20": (36, 20),
}
# --smoke: every frame size, difficulty and rule (the small frames make separate placement give
# way), the fewest samples.
SMOKE = {"samples": 2}


def _cropped_mask(shape: str, instance: dict) -> tuple[np.ndarray, int, int]:
    """The pixels one instance fills, as (mask, x0, y0) of a canvas around it (frame-free)."""
    from videossr.tasks.counting import draw_shapes

    reach = instance["size"] + 4  # beyond any vertex of the shape
    x0, y0 = instance["center"][0] - reach, instance["center"][1] - reach
    local = {**instance, "center": [reach, reach], "color_bgr": [255]}
    canvas = np.zeros((2 * reach + 1, 2 * reach + 1, 1), np.uint8)
    return draw_shapes(canvas, shape, [local])[..., 0] > 0, x0, y0


def _overlap(a: tuple[np.ndarray, int, int], b: tuple[np.ndarray, int, int]) -> float:
    """Pixels two instances share, over the smaller one's area."""
    (mask_a, xa, ya), (mask_b, xb, yb) = a, b
    x0, y0 = max(xa, xb), max(ya, yb)
    x1, y1 = min(xa + mask_a.shape[1], xb + mask_b.shape[1]), min(ya + mask_a.shape[0], yb + mask_b.shape[0])
    if x0 >= x1 or y0 >= y1:
        return 0.0
    shared = np.count_nonzero(
        mask_a[y0 - ya : y1 - ya, x0 - xa : x1 - xa] & mask_b[y0 - yb : y1 - yb, x0 - xb : x1 - xb]
    )
    return shared / max(1, min(np.count_nonzero(mask_a), np.count_nonzero(mask_b)))


def measure(width: int, height: int, difficulty: str, placement: str, samples: int) -> dict:
    from videossr.frames.folder import VideoFrames
    from videossr.tasks.counting import DIFFICULTIES, count_drawn_shapes, make_counting_sample
    from videossr.tasks.seeds import derive_seed, rng_for

    black = np.zeros((height, width, 3), np.uint8)
    black.setflags(write=False)
    record = {"video_id": "bench", "num_frames": 48, "sample_fps": 2.0, "width": width, "height": height}
    video = VideoFrames(Path("/nonexistent"), record, {i: black for i in range(48)})
    frames = overlap_any = overlap10 = overlap50 = wrong = 0
    gave_way, sizes, instances = Counter(), [], 0
    by_count = {n: Counter() for n in range(1, 5)}  # frames, >10 % overlaps, by declared instances
    elapsed = 0.0
    for seed in range(samples):
        started = time.perf_counter()
        sample = make_counting_sample(
            video, DIFFICULTIES[difficulty], rng_for(derive_seed(seed, "bench", difficulty)), placement=placement
        )
        elapsed += time.perf_counter() - started
        for entry in sample.info["shape_frames"]:
            frames += 1
            placed = sample.params["instances"][str(entry["frame_pos"])]
            marked = sample.videos[0][entry["frame_pos"]]
            wrong += count_drawn_shapes(black, marked) != entry["num_instances"]
            record = sample.params.get("gave_way", {}).get(str(entry["frame_pos"]))
            gave_way[record["fallback"] if record else "none"] += 1
            sizes.extend(i["size"] / min(width, height) for i in placed)
            instances += len(placed)
            masks = [_cropped_mask(entry["shape"], i) for i in placed]
            worst = 0.0
            for a in range(len(masks)):
                for b in range(a + 1, len(masks)):
                    worst = max(worst, _overlap(masks[a], masks[b]))
            by_count[entry["num_instances"]]["frames"] += 1
            by_count[entry["num_instances"]]["overlap_10"] += worst > 0.1
            by_count[entry["num_instances"]]["overlap_50"] += worst > 0.5
            overlap_any += worst > 0
            overlap10 += worst > 0.1
            overlap50 += worst > 0.5
    return {
        "frames": frames,
        "overlap_any": overlap_any / frames,
        "overlap_10": overlap10 / frames,
        "overlap_50": overlap50 / frames,
        "pixels_wrong": wrong / frames,
        "gave_way": {k: v / frames for k, v in sorted(gave_way.items())},
        "by_num_instances": {
            n: {
                "frames": c["frames"],
                "overlap_10": c["overlap_10"] / c["frames"],
                "overlap_50": c["overlap_50"] / c["frames"],
            }
            for n, c in by_count.items()
            if c["frames"]
        },
        "mean_size_per_short_side": float(np.mean(sizes)),
        "instances_per_frame": instances / frames,
        "ms_per_sample": 1000 * elapsed / samples,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=1000, help="samples per frame size, difficulty and rule")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument("--frames", nargs="*", default=list(FRAMES), help="frame names (default: all)")
    parser.add_argument("--smoke", action="store_true", help=f"a quick check that the bench runs: {SMOKE}")
    if parser.parse_known_args()[0].smoke:
        parser.set_defaults(**SMOKE)  # flags given explicitly still win
    args = parser.parse_args()
    results = []
    print(
        f"{'frame':24} {'diff':4} {'placement':9} {'ovl>0':>6} {'>10%':>6} {'>50%':>6} {'px!=n':>6} "
        f"{'size':>5} {'n/fr':>5} {'ms':>6} {'n=3 >10%/>50%':>14}  gave way"
    )
    for name in args.frames:
        width, height = FRAMES[name]
        for difficulty in ("easy", "hard"):
            for placement in ("released", "separate"):
                r = measure(width, height, difficulty, placement, args.samples)
                results.append(
                    {
                        "frame": name,
                        "width": width,
                        "height": height,
                        "difficulty": difficulty,
                        "placement": placement,
                        **r,
                    }
                )
                n3 = r["by_num_instances"].get(3)
                three = f"{100 * n3['overlap_10']:.0f}%/{100 * n3['overlap_50']:.0f}%" if n3 else "-"
                way = (
                    " ".join(f"{k}={100 * v:.1f}%" for k, v in r["gave_way"].items() if k != "none")
                    if placement == "separate"
                    else ""
                )
                print(
                    f"{name:24} {difficulty:4} {placement:9} {100 * r['overlap_any']:5.1f}% "
                    f"{100 * r['overlap_10']:5.1f}% "
                    f"{100 * r['overlap_50']:5.1f}% {100 * r['pixels_wrong']:5.1f}% "
                    f"{r['mean_size_per_short_side']:5.3f} "
                    f"{r['instances_per_frame']:5.2f} {r['ms_per_sample']:6.1f} {three:>14}  {way}",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
