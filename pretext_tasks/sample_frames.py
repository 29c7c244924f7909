"""Sample 48 frames from every video of one or more folders: stage 1 of the VideoSSR pipeline.

Each video becomes ``OUT/<video_id>/0.jpg … 47.jpg``, frames evenly spaced over its central 90 %,
plus ``OUT/index.jsonl`` with the true playback rate of those frames (``sample_fps``) and their
source positions. Re-running resumes; see ``videossr/frames/build.py`` for every output file.

Examples:
    python pretext_tasks/sample_frames.py --video-dir data/videos --output-dir outputs/frames
    python pretext_tasks/sample_frames.py --video-dir /data/llava_video --video-dir /data/kinetics \\
        --output-dir /scratch/frames48 --workers 32
    python pretext_tasks/sample_frames.py --video-list my_videos.txt --output-dir /scratch/frames48 \\
        --max-pixels 0        # keep the source resolution
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from videossr.cli import fail, parse_config, script_parser
from videossr.errors import ConfigError
from videossr.frames.build import FrameSamplingConfig, run_frame_sampling
from videossr.parallel import add_ray_flags, add_workers_flag

MAX_FAILURES_SHOWN = 10


def build_parser():
    parser = script_parser(__doc__, Path(__file__).name)
    parser.add_argument(
        "--output-dir", type=Path, required=True, help="folder to write frames and index into (created)"
    )
    parser.add_argument(
        "--video-dir",
        type=Path,
        action="append",
        metavar="DIR",
        help="folder searched recursively for videos; repeat for several",
    )
    parser.add_argument(
        "--video-list",
        type=Path,
        metavar="FILE",
        help="text file with one video path per line (optionally PATH<TAB>VIDEO_ID)",
    )
    parser.add_argument("--num-frames", type=int, help="frames sampled per video")
    parser.add_argument(
        "--max-pixels", type=int, help="shrink stored frames to at most this many pixels (0 keeps the source size)"
    )
    parser.add_argument("--jpeg-quality", type=int, help="JPEG quality of stored frames (1-100)")
    add_workers_flag(parser)
    add_ray_flags(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    config = parse_config(build_parser(), FrameSamplingConfig, argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from tqdm import tqdm

    def progress(outcomes, total):
        failed = 0
        with tqdm(total=total, unit="video", desc="sampling", dynamic_ncols=True) as bar:
            for outcome in outcomes:
                failed += not outcome.ok
                bar.set_postfix(failed=failed, refresh=False)
                bar.update(1)
                yield outcome

    try:
        summary = run_frame_sampling(config, progress=progress)
    except (ConfigError, ConnectionError) as exc:
        fail(str(exc), prog=Path(__file__).name)
    if summary.num_videos == 0:
        fail(
            "no video files found in the given inputs (looked for .mp4, .mkv, .webm, .avi, .mov, ...)",
            prog=Path(__file__).name,
        )
    for failure in summary.failures[:MAX_FAILURES_SHOWN]:
        print(f"failed: {failure['video_id']}: {failure['reason']}", file=sys.stderr)
    if summary.failed > MAX_FAILURES_SHOWN:
        print(
            f"... {summary.failed - MAX_FAILURES_SHOWN} more in {summary.output_dir / 'failures.jsonl'}",
            file=sys.stderr,
        )
    print(summary.one_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
