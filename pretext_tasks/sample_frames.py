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

from videossr.cli import fail, parse_config
from videossr.errors import ConfigError
from videossr.frames.build import FrameSamplingConfig, run_frame_sampling

MAX_FAILURES_SHOWN = 10


def main(argv: list[str] | None = None) -> int:
    config = parse_config(FrameSamplingConfig, argv, description=__doc__.split("\n\n")[0], prog=Path(__file__).name)
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
