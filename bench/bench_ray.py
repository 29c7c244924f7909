"""Benchmark data generation on Ray: 1 vs 2 Ray worker nodes vs the local process pool, in one run.

Frame sampling of the same videos (the sampling benchmark's 20 x 30 s 720p clips by default) runs:

    local-pool   pretext_tasks/sample_frames.py --workers 2 (this machine's process pool)
    ray-1        a one-node Ray cluster with 1 CPU (started here on loopback with `ray start`)
    ray-2        a two-node Ray cluster, 1 CPU per node

and prints frames/s, the speed-up of 2 nodes over 1 and the scaling efficiency
(throughput_2 / (2 x throughput_1)). On this 2-core machine both "nodes" share the same cores, so
the efficiency is an upper bound of Ray's overhead, not of a real cluster's network.

Run:
    .venv/bin/python bench/bench_ray.py                 # clips set, 2 repeats
    .venv/bin/python bench/bench_ray.py --set lowres --repeats 3
    .venv/bin/python bench/bench_ray.py --smoke         # 2 bundled clips, one repeat (real Ray clusters): a check
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

# --smoke: every route (the local pool, a 1-node and a 2-node Ray cluster, started for real) once,
# on 2 of the bundled clips (nothing to encode).
SMOKE = {"set": "lowres", "videos": 2, "repeats": 1}


def _sample(videos: list[Path], out: Path, *, workers: int = 1, ray_address: str | None = None) -> float:
    from videossr.frames.build import FrameSamplingConfig, run_frame_sampling

    listing = out.parent / f"{out.name}.txt"
    listing.write_text("".join(f"{v}\t{v.stem}\n" for v in videos))
    started = time.perf_counter()
    summary = run_frame_sampling(
        FrameSamplingConfig(output_dir=out, video_list=listing, workers=workers, ray_address=ray_address)
    )
    wall = time.perf_counter() - started
    assert summary.failed == 0, summary.failures
    return summary.frames_written / wall


def main() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_sample_frames import video_set

    from videossr.testing.local_ray import local_ray_cluster

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", default="clips", choices=["clips", "lowres"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--videos", type=int, help="only the first N videos of the set (default: all)")
    parser.add_argument("--smoke", action="store_true", help=f"a quick check that the bench runs: {SMOKE}")
    if parser.parse_known_args()[0].smoke:
        parser.set_defaults(**SMOKE)  # flags given explicitly still win
    args = parser.parse_args()
    videos = video_set(args.set)[: args.videos]
    results: dict[str, list[float]] = {"local-pool": [], "ray-1": [], "ray-2": []}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            out = Path(tmp) / f"local{repeat}"
            results["local-pool"].append(_sample(videos, out, workers=2))
            for nodes in (1, 2):
                with local_ray_cluster(num_nodes=nodes, cpus_per_node=1) as address:
                    out = Path(tmp) / f"ray{nodes}_{repeat}"
                    results[f"ray-{nodes}"].append(_sample(videos, out, ray_address=address))
                shutil.rmtree(out, ignore_errors=True)
    print(f"Ray scaling benchmark: {len(videos)} videos ({args.set}), 48 frames each, {args.repeats} repeats")
    for name, rates in results.items():
        print(f"  {name:<11} {statistics.median(rates):8.1f} frames/s")
    speedups = [two / one for one, two in zip(results["ray-1"], results["ray-2"])]
    versus_local = [two / local for local, two in zip(results["local-pool"], results["ray-2"])]
    print(
        f"  2 nodes vs 1: {statistics.median(speedups):.2f}x (scaling efficiency "
        f"{statistics.median(speedups) / 2:.0%}); 2 Ray nodes vs local pool: {statistics.median(versus_local):.2f}x"
    )


if __name__ == "__main__":
    main()
