"""Benchmark the results report on full-size VIUBench runs: build time and file size.

A 2,700-item VIUBench (300 per subtype) is synthesised from a small one built from the bundled
sample clips: its records are replicated under new ids (``<subtype>/c<k>/<video>``), so every
record is a real, scorable VIUBench question whose frames exist (copies share frame files, which
changes nothing for the report: it draws only the sampled items). The random baseline answers it
through ``eval/viubench.py run`` (seeds 0 and 1 for a second run), then ``build_report`` is timed
for one run and for two runs side by side, at the default gallery sample (4 per subtype).

Run:
    .venv/bin/python bench/bench_report.py                    # 300 per subtype, 3 repeats
    .venv/bin/python bench/bench_report.py --per-subtype 100 --per-group 8
    .venv/bin/python bench/bench_report.py --smoke            # 1 per subtype, 1 repeat: a check, not a measurement
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "bench" / ".cache"
# --smoke: one record per subtype, replicated (as c0/<video>) from a 1-per-subtype VIUBench; both
# runs answered and reported, one gallery item per group, one repeat. Its cache is a temporary
# folder, so it writes nothing into the repository.
SMOKE = {"per_subtype": 1, "per_group": 1, "repeats": 1}


def cache_folder(smoke: bool):
    """A context giving the cache folder: bench/.cache, or a temporary one for --smoke."""
    if smoke:
        return tempfile.TemporaryDirectory(prefix="bench-report-smoke-")
    return contextlib.nullcontext(CACHE)


def synthesise(frames: Path, folder: Path, per_subtype: int, base_per_subtype: int = 4) -> Path:
    """A VIUBench file of ``per_subtype`` records per subtype, replicated from a ``base_per_subtype`` build."""
    from videossr.eval.viubench import build_viubench, load_benchmark
    from videossr.io import write_json_atomic

    small = load_benchmark(
        build_viubench(frames, folder / "small", per_subtype=base_per_subtype, reuse_videos=True, workers=2)
    )
    by_subtype: dict[str, list[dict]] = {}
    for record in small:
        by_subtype.setdefault(record["subtype"], []).append(record)
    records = []
    for subtype, group in by_subtype.items():
        for k in range(per_subtype):
            source = group[k % len(group)]
            video_id = f"c{k // len(group)}/{source['video_id']}"
            records.append({**source, "id": f"{subtype}/{video_id}", "video_id": video_id})
    path = folder / "viubench.json"
    write_json_atomic(path, records)
    return path


def answer(bench: Path, output_dir: Path, seed: int) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "eval" / "viubench.py"),
            "run",
            "--benchmark",
            str(bench),
            "--backend",
            "random",
            "--seed",
            str(seed),
            "--output-dir",
            str(output_dir),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    if result.returncode != 0:
        raise SystemExit(result.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-subtype", type=int, default=300)
    parser.add_argument("--per-group", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help=f"a quick check that the bench runs: {SMOKE}")
    if parser.parse_known_args()[0].smoke:
        parser.set_defaults(**SMOKE)  # flags given explicitly still win
    args = parser.parse_args()
    with cache_folder(args.smoke) as cache:
        run(args, Path(cache))


def run(args, cache: Path) -> None:
    from videossr.frames.build import FrameSamplingConfig, run_frame_sampling
    from videossr.report.eval_report import build_report

    frames = cache / "frames_samples"
    if not (frames / "manifest.json").exists():
        run_frame_sampling(FrameSamplingConfig(output_dir=frames, video_dir=[REPO / "data" / "videos"], workers=2))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bench = synthesise(frames, tmp, args.per_subtype, base_per_subtype=1 if args.smoke else 4)
        answer(bench, tmp / "random0", 0)
        answer(bench, tmp / "random1", 1)
        items = json.loads((tmp / "random0" / "summary.json").read_text())["num_items"]
        print(
            f"report benchmark: {items}-item VIUBench run(s) of the random baseline, --per-group {args.per_group}, "
            f"{args.repeats} repeats"
        )
        for folders in ([tmp / "random0"], [tmp / "random0", tmp / "random1"]):
            times, size, shown = [], 0, 0
            for _ in range(args.repeats):
                started = time.perf_counter()
                document, stats = build_report(folders, per_group=args.per_group)
                times.append(time.perf_counter() - started)
                size, shown = stats.size_bytes, stats.num_items_shown
            print(
                f"  {len(folders)} run(s): {statistics.median(times):.2f} s median build (min {min(times):.2f}), "
                f"{size / 1e6:.2f} MB, {shown} gallery items, {size / max(shown, 1) / 1e3:.0f} KB per item"
            )


if __name__ == "__main__":
    main()
