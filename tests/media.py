"""Real video files for tests, made with the FFmpeg command-line tool, and a reference decoder.

The reference decoder is FFmpeg's own CLI with ``-fps_mode passthrough`` (no frame dropped or
duplicated), read as 8-bit luma: an implementation independent of our PyAV code, and exact, since
luma needs no colour conversion.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_VIDEO_DIR = REPO_ROOT / "data" / "videos"


def script_command(script: str, *args: object, **flags: object) -> list[str]:
    """The command line of one of the project's scripts: ``[python, REPO/script, *args, --flag value, ...]``.

    Flags keep their keyword order; ``output_dir=`` is ``--output-dir``; ``True`` is a bare flag.

    >>> script_command("pretext_tasks/grounding.py", perturbation="Blur", workers=1)[2:]
    ['--perturbation', 'Blur', '--workers', '1']
    """
    command = [sys.executable, str(REPO_ROOT / script), *map(str, args)]
    for name, value in flags.items():
        command.append("--" + name.replace("_", "-"))
        if value is not True:
            command.append(str(value))
    return command


def ffmpeg_binary() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        raise RuntimeError("the ffmpeg command is missing; run scripts/setup.sh, which installs it")
    return path


def run_ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_binary(), "-v", "error", "-y", *args], check=True)


def make_video(
    path: Path,
    *,
    size: str = "320x240",
    rate: float = 25,
    seconds: float = 4.0,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    video_filter: str | None = None,
    codec_args: tuple[str, ...] = ("-bf", "2", "-g", "12", "-preset", "ultrafast"),
    output_args: tuple[str, ...] = (),
) -> Path:
    """Encode ``seconds`` of FFmpeg's ``testsrc2`` pattern (moving, with a frame counter)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}", "-t", str(seconds)]
    if video_filter:
        args += ["-vf", video_filter]
    args += ["-c:v", codec, *codec_args, "-pix_fmt", pix_fmt, *output_args, str(path)]
    run_ffmpeg(*args)
    return path


def write_vqa_benchmark(path: Path) -> Path:
    """A 3-question multiple-choice benchmark on the bundled clips; one video is missing on purpose."""
    path.write_text(
        json.dumps(
            [
                {
                    "video": "bikes",
                    "question": "What moves?\n(A) bikes\n(B) boats",
                    "ground_truth": "A",
                    "category": "motion",
                },
                {
                    "video": "carphone_pristine",
                    "question": "Who?\n(A) a man\n(B) a cat",
                    "ground_truth": "A",
                    "category": "people",
                },
                {"video": "not_there", "question": "?\n(A) x\n(B) y", "ground_truth": "B", "category": "people"},
            ]
        )
    )
    return path


def reference_luma_frames(path: Path) -> np.ndarray:
    """Every frame of ``path`` in presentation order as ``(N, H, W)`` uint8 luma, coded orientation."""
    width, height = coded_size(path)
    raw = subprocess.run(
        [
            ffmpeg_binary(),
            "-v",
            "error",
            "-noautorotate",
            "-i",
            str(path),
            "-map",
            "0:v:0",
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width)


def coded_size(path: Path) -> tuple[int, int]:
    info = json.loads(
        subprocess.run(
            [
                shutil.which("ffprobe") or "ffprobe",
                "-v",
                "error",
                "-select_streams",
                "v:0",
                "-show_entries",
                "stream=width,height",
                "-of",
                "json",
                str(path),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    stream = info["streams"][0]
    return int(stream["width"]), int(stream["height"])


def packet_times_s(path: Path) -> list[float]:
    """Presentation times of every video packet, sorted (what ffprobe sees)."""
    out = subprocess.run(
        [
            shutil.which("ffprobe") or "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time",
            "-of",
            "csv=p=0",
            str(path),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return sorted(float(line.split(",")[0]) for line in out.split() if line.strip() and line != "N/A")


def build_catalogue(root: Path) -> dict[str, Path]:
    """The test videos, by name: good files of many kinds, and bad ones."""
    root.mkdir(parents=True, exist_ok=True)
    videos: dict[str, Path] = {}
    videos["h264_bframes"] = make_video(root / "h264_bframes.mp4", seconds=8)
    videos["h264_open_gop"] = make_video(
        root / "h264_open_gop.mp4",
        seconds=6,
        codec_args=("-bf", "3", "-g", "20", "-x264-params", "open-gop=1", "-preset", "veryfast"),
    )
    videos["hevc_mkv"] = make_video(
        root / "hevc.mkv",
        codec="libx265",
        seconds=4,
        codec_args=("-preset", "ultrafast", "-x265-params", "keyint=15:bframes=3:log-level=error"),
    )
    videos["vp9_webm_odd_size"] = make_video(
        root / "odd size.webm",
        size="175x143",
        codec="libvpx-vp9",
        pix_fmt="yuv420p",
        seconds=3,
        codec_args=("-g", "10", "-deadline", "realtime", "-cpu-used", "8"),
    )
    videos["mpeg4_avi"] = make_video(
        root / "clip.AVI", codec="mpeg4", seconds=3, codec_args=("-bf", "1", "-g", "15", "-q:v", "5")
    )
    videos["ffv1_mkv_odd_size"] = make_video(
        root / "lossless.mkv", size="97x61", codec="ffv1", seconds=3, codec_args=()
    )
    # Variable frame rate: 60 frames at 30 fps, then 40 frames 0.1 s apart.
    videos["vfr_mp4"] = make_video(
        root / "vfr.mp4",
        rate=30,
        seconds=6,
        video_filter="setpts='if(lt(N,60),N/(30*TB),(60+(N-60)*3)/(30*TB))'",
        output_args=("-fps_mode", "vfr"),
    )
    rotated = root / "rotated.mp4"
    run_ffmpeg("-i", str(videos["h264_bframes"]), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(rotated))
    videos["rotated_90"] = rotated
    videos["too_short"] = make_video(root / "too_short.mp4", seconds=1.6)  # 40 frames
    # A file cut midway with its index at the front keeps a header claiming every frame.
    faststart = make_video(root / "faststart_full.mp4", seconds=8, output_args=("-movflags", "+faststart"))
    videos["truncated_readable"] = _truncated_copy(faststart, root / "truncated_readable.mp4", 0.6)
    faststart.unlink()
    # Cut before its index (written at the end): FFmpeg cannot open it at all.
    videos["truncated_unreadable"] = _truncated_copy(videos["h264_bframes"], root / "truncated_unreadable.mp4", 0.5)
    videos["zero_bytes"] = root / "zero_bytes.mp4"
    videos["zero_bytes"].write_bytes(b"")
    videos["text_as_mp4"] = root / "notes.mp4"
    videos["text_as_mp4"].write_text("these are meeting notes, not a video\n")
    videos["audio_only"] = root / "audio_only.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "sine=duration=2", "-c:a", "aac", str(videos["audio_only"]))
    return videos


def _truncated_copy(source: Path, target: Path, fraction: float) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target
