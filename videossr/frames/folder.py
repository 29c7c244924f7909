"""The frames folder: its layout, its index, and read access to one sampled video.

A frames folder (made by ``pretext_tasks/sample_frames.py``, :mod:`videossr.frames.build`)::

    FRAMES/<video_id>/<position>.jpg    the sampled frames, position 0 .. num_frames - 1
    FRAMES/index.jsonl                  one record per sampled video, sorted by video_id (written
                                        last; while a run is unfinished its records are journalled
                                        in FRAMES/.journal/sampling.jsonl)

This module is the only one that knows those names. Frames are loaded lazily and cached, so a
generator that touches 12 of 48 frames decodes 12 JPEGs. Nothing here writes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from videossr.errors import ConfigError, VideoError
from videossr.io import iter_jsonl

INDEX_NAME = "index.jsonl"


def frame_path(frames_dir: Path, video_id: str, position: int) -> Path:
    """Path of the ``position``-th sampled frame of ``video_id``."""
    return frames_dir / video_id / f"{position}.jpg"


def load_index(frames_dir: str | Path) -> list[dict[str, Any]]:
    """The records of a frames folder made by :func:`~videossr.frames.build.run_frame_sampling`, sorted by video_id.

    Raises:
        ConfigError: the folder has no ``index.jsonl`` (not a frames folder, or an unfinished run).
    """
    index_path = Path(frames_dir) / INDEX_NAME
    if not index_path.is_file():
        raise ConfigError(
            f"{frames_dir} has no {INDEX_NAME}: pass a folder made by pretext_tasks/sample_frames.py "
            "(re-run it there if it was interrupted)"
        )
    return list(iter_jsonl(index_path))


@dataclass
class VideoFrames:
    """The sampled frames of one video, with its ``index.jsonl`` record.

    Attributes:
        frames_dir: the frames folder (absolute), holding ``<video_id>/<i>.jpg``.
        record: the video's record from ``index.jsonl``.
    """

    frames_dir: Path
    record: dict[str, Any]
    _cache: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def video_id(self) -> str:
        return self.record["video_id"]

    @property
    def num_frames(self) -> int:
        return int(self.record["num_frames"])

    @property
    def sample_fps(self) -> float:
        return float(self.record["sample_fps"])

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the stored frames."""
        return int(self.record["width"]), int(self.record["height"])

    @property
    def folder(self) -> Path:
        return self.frames_dir / self.video_id

    def path(self, position: int) -> Path:
        """Absolute path of the ``position``-th frame (0-based)."""
        if not 0 <= position < self.num_frames:
            raise IndexError(f"frame position {position} outside 0..{self.num_frames - 1} of {self.video_id}")
        return frame_path(self.frames_dir, self.video_id, position)

    def load(self, position: int) -> np.ndarray:
        """The ``position``-th frame as a ``(H, W, 3)`` uint8 BGR array (do not modify it in place)."""
        image = self._cache.get(position)
        if image is None:
            path = self.path(position)
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                reason = "missing" if not path.exists() else "not a readable JPEG"
                raise VideoError(f"frame {path.name} of {self.video_id} is {reason}: re-run sample_frames.py")
            if (image.shape[1], image.shape[0]) != self.size:
                raise VideoError(
                    f"frame {path.name} of {self.video_id} is {image.shape[1]}x{image.shape[0]}, "
                    f"its record says {self.size[0]}x{self.size[1]}"
                )
            image.setflags(write=False)
            self._cache[position] = image
        return image

    def check_complete(self) -> None:
        """Raise :class:`VideoError` if any frame file is missing (one directory listing, no decoding)."""
        try:
            present = set(os.listdir(self.folder))
        except FileNotFoundError:
            raise VideoError(f"the frames of {self.video_id} are missing: no folder {self.folder}") from None
        missing = [
            i for i in range(self.num_frames) if frame_path(self.frames_dir, self.video_id, i).name not in present
        ]
        if missing:
            example = frame_path(self.frames_dir, self.video_id, missing[0]).name
            raise VideoError(f"{len(missing)} frame files of {self.video_id} are missing (e.g. {example})")
