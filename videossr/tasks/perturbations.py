"""The 17 perturbations of Anomaly Grounding, as a registry of plain objects.

A perturbation replaces the frames at positions ``start .. start + length - 1`` of a sampled video.
It draws its parameters once per sample from the sample's generator (a zoom factor, a noise level,
a permutation, ...), returns them as JSON-able ``params`` stored with the sample, and returns one
:data:`FrameOut` per perturbed position: either an existing frame to reuse (a path, no new pixels)
or a new ``(H, W, 3)`` uint8 BGR array to encode.

Construction choices (all documented in docs/tasks.md):

- Pixel perturbations keep the frame size. Rotate90/270 letterbox the rotated picture into the
  original frame (the released code changed the size, which breaks stacking the frames of one
  video into a tensor); Swap frames of another size are scaled to cover the frame and centre-cropped.
- ZoomIn/ZoomOut draw one zoom factor per sample (a steady zoom), Noise one sigma per sample with
  fresh noise per frame.
- Shuffle uses a derangement: every frame of the segment leaves its place, so the changed frames
  are exactly the declared segment (a plain shuffle can leave the first or last frame in place).
- StutterHold splits the segment into 2-5 equal runs (remainder to the first runs, as released);
  each run shows, frozen, the frame just before the run starts, then playback jumps on. The
  segment therefore never starts at frame 0 (there is nothing to freeze on).
- Slow and Fast (paper only) re-time the segment with real frames decoded from the source video:
  the frame at position ``p`` of the segment shows the content at sample-time
  ``(start - 1) + (p - start + 1) * rate``, continuing from the last normal frame at a rate of
  1/2-1/4 (Slow) or 2-4 (Fast) times real speed, while every frame keeps its evenly spaced
  timestamp. After the segment the video resumes at its own frame ``start + length``, so Slow ends
  with a jump forward and Fast with a jump back. Fast's start is drawn from the starts whose
  content stays inside the source video.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from videossr.errors import ConfigError, VideoError
from videossr.frames.folder import VideoFrames

#: What a perturbed position shows: an existing frame (reused, not re-encoded) or new pixels.
FrameOut = Path | np.ndarray

#: Decodes source frames (source frame numbers, increasing) into arrays of a given (w, h).
SourceDecoder = Callable[[VideoFrames, list[int], tuple[int, int]], list[np.ndarray]]


@dataclass
class SegmentContext:
    """Everything a perturbation may look at for one sample."""

    video: VideoFrames
    start: int
    length: int
    partner: VideoFrames | None = None
    decode_source: SourceDecoder | None = None


class Perturbation:
    """Base class: subclasses set the class attributes and implement ``apply``."""

    name: str = ""
    description: str = ""
    group: str = ""  # "fine-grained", "spatial" or "temporal"
    in_paper: bool = True
    needs_partner: bool = False
    needs_source: bool = False
    changes_speed: bool = False
    min_start: int = 0

    def draw_params(self, rng: np.random.Generator, video: VideoFrames, length: int) -> dict[str, Any]:
        """Parameters drawn once per sample, before the segment start."""
        return {}

    def start_range(self, num_frames: int, length: int, params: dict[str, Any], video: VideoFrames) -> tuple[int, int]:
        """Inclusive range the segment start is drawn from (uniformly)."""
        return self.min_start, num_frames - length

    def apply(self, ctx: SegmentContext, params: dict[str, Any], rng: np.random.Generator) -> list[FrameOut]:
        raise NotImplementedError


class PixelPerturbation(Perturbation):
    """Applies an image operation to every frame of the segment."""

    def transform(self, image: np.ndarray, params: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def apply(self, ctx: SegmentContext, params: dict[str, Any], rng: np.random.Generator) -> list[FrameOut]:
        return [self.transform(ctx.video.load(p), params, rng) for p in range(ctx.start, ctx.start + ctx.length)]


# ----------------------------------------------------------------------------- fine-grained


class Saturation(PixelPerturbation):
    name, group = "Saturation", "fine-grained"
    description = "the colors in the video become oversaturated and unnaturally vibrant"
    factor = 2.0

    def transform(self, image, params, rng):
        # PIL's ImageEnhance.Color(2.0): blend away from the image's own luma (ITU-R 601 weights).
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.int16)[..., None]
        return np.clip(gray + self.factor * (image.astype(np.int16) - gray), 0, 255).astype(np.uint8)


class Noise(PixelPerturbation):
    name, group = "Noise", "fine-grained"
    description = "Gaussian noise is added to the video"
    sigma_range = (35.0, 70.0)

    def draw_params(self, rng, video, length):
        return {"sigma": float(rng.uniform(*self.sigma_range))}

    def transform(self, image, params, rng):
        noise = rng.standard_normal(image.shape, dtype=np.float32) * np.float32(params["sigma"])
        return np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)


class Blur(PixelPerturbation):
    name, group = "Blur", "fine-grained"
    description = "the video becomes blurry or out of focus"
    sigma = 2.0  # PIL's GaussianBlur(radius=2) is a Gaussian of standard deviation 2

    def transform(self, image, params, rng):
        return cv2.GaussianBlur(image, (0, 0), sigmaX=self.sigma, borderType=cv2.BORDER_REFLECT)


class Grayscale(PixelPerturbation):
    name, group = "Grayscale", "fine-grained"
    description = "the video becomes black and white"

    def transform(self, image, params, rng):
        return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


class Invert(PixelPerturbation):
    name, group = "Invert", "fine-grained"
    description = "the colors in the video are inverted"

    def transform(self, image, params, rng):
        return cv2.bitwise_not(image)


class ChannelSwap(PixelPerturbation):
    name, group = "ChannelSwap", "fine-grained"
    description = "the red and blue color channels in the video are swapped"

    def transform(self, image, params, rng):
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)  # reverses the channels; 10x faster than [..., ::-1]


# ----------------------------------------------------------------------------- spatial


class ZoomIn(PixelPerturbation):
    name, group = "ZoomIn", "spatial"
    description = "the video is zoomed in"
    factor_range = (1.3, 1.5)

    def draw_params(self, rng, video, length):
        return {"zoom_factor": float(rng.uniform(*self.factor_range))}

    def transform(self, image, params, rng):
        height, width = image.shape[:2]
        crop_w = max(1, round(width / params["zoom_factor"]))
        crop_h = max(1, round(height / params["zoom_factor"]))
        x0, y0 = (width - crop_w) // 2, (height - crop_h) // 2
        crop = image[y0 : y0 + crop_h, x0 : x0 + crop_w]
        return cv2.resize(crop, (width, height), interpolation=cv2.INTER_LANCZOS4)


class ZoomOut(PixelPerturbation):
    name, group = "ZoomOut", "spatial"
    description = "the video is zoomed out"
    factor_range = (1.2, 1.4)

    def draw_params(self, rng, video, length):
        return {"zoom_factor": float(rng.uniform(*self.factor_range))}

    def transform(self, image, params, rng):
        height, width = image.shape[:2]
        small_w = max(1, int(width / params["zoom_factor"]))
        small_h = max(1, int(height / params["zoom_factor"]))
        return _paste_centred(cv2.resize(image, (small_w, small_h), interpolation=cv2.INTER_AREA), width, height)


class Rotate180(PixelPerturbation):
    name, group = "Rotate180", "spatial"
    description = "the video is rotated 180 degrees"

    def transform(self, image, params, rng):
        return cv2.rotate(image, cv2.ROTATE_180)


class Mirror(PixelPerturbation):
    name, group = "Mirror", "spatial"
    description = "The video is mirrored horizontally"  # capital T as published

    def transform(self, image, params, rng):
        return cv2.flip(image, 1)


class Rotate90(PixelPerturbation):
    name, group, in_paper = "Rotate90", "spatial", False
    description = "the video is rotated 90 degrees clockwise"
    rotation = cv2.ROTATE_90_CLOCKWISE

    def transform(self, image, params, rng):
        height, width = image.shape[:2]
        return _letterbox(cv2.rotate(image, self.rotation), width, height)


class Rotate270(Rotate90):
    name = "Rotate270"
    description = "the video is rotated 270 degrees clockwise"
    rotation = cv2.ROTATE_90_COUNTERCLOCKWISE


# ----------------------------------------------------------------------------- temporal


class Shuffle(Perturbation):
    name, group = "Shuffle", "temporal"
    description = (
        "the frames are shuffled, this means the order of events is scrambled, making the action appear "
        "illogical and chaotic"
    )

    def apply(self, ctx, params, rng):
        order = random_derangement(ctx.length, rng)
        params["order"] = [int(ctx.start + i) for i in order]
        return [ctx.video.path(ctx.start + i) for i in order]


class StutterHold(Perturbation):
    name, group = "StutterHold", "temporal"
    description = (
        "the video appears to freeze and stutter on a few frames, this means instead of playing smoothly, the "
        "video repeatedly freezes on a single frame before jumping to the next."
    )
    min_start = 1  # the first run freezes on the frame before the segment

    def draw_params(self, rng, video, length):
        return {"num_holds": int(rng.integers(2, 6))}

    def apply(self, ctx, params, rng):
        runs = split_into_runs(ctx.length, params["num_holds"])
        held = [ctx.start + run_start - 1 for run_start, _ in runs]
        params["held_frames"] = held
        frames: list[FrameOut] = []
        for (_, run_length), frame in zip(runs, held):
            frames.extend([ctx.video.path(frame)] * run_length)
        return frames


class Swap(Perturbation):
    name, group, in_paper, needs_partner = "Swap", "temporal", False, True
    description = "the clip is replaced by a clip from another video"

    def apply(self, ctx, params, rng):
        partner = ctx.partner
        if partner is None:
            raise VideoError("Swap needs a second video in the frames folder")
        params["partner_video_id"] = partner.video_id
        width, height = ctx.video.size
        frames: list[FrameOut] = []
        for position in range(ctx.start, ctx.start + ctx.length):
            if partner.size == (width, height):
                frames.append(partner.path(position))
            else:
                frames.append(_resize_cover(partner.load(position), width, height))
        return frames


class _SpeedChange(Perturbation):
    group, needs_source, changes_speed = "temporal", True, True
    factor_range = (2.0, 4.0)

    def rate(self, factor: float) -> float:
        raise NotImplementedError

    def draw_params(self, rng, video, length):
        return {"speed_factor": float(rng.uniform(*self.factor_range))}

    def content_positions(self, start: int, length: int, factor: float) -> list[float]:
        """Sample-time shown at each segment position (see the module docstring)."""
        rate = self.rate(factor)
        return [(start - 1) + (k + 1) * rate for k in range(length)]

    def apply(self, ctx, params, rng):
        if ctx.decode_source is None:
            raise VideoError(f"{self.name} needs the source video")
        record = ctx.video.record
        first_source, step = int(record["frame_indices"][0]), int(record["step"])
        last_source = int(record["num_source_frames"]) - 1
        positions = self.content_positions(ctx.start, ctx.length, params["speed_factor"])
        source_frames = [min(last_source, max(0, round(first_source + c * step))) for c in positions]
        params["source_frame_indices"] = source_frames
        unique = sorted(set(source_frames))
        decoded = dict(zip(unique, ctx.decode_source(ctx.video, unique, ctx.video.size)))
        return [decoded[i] for i in source_frames]


class Slow(_SpeedChange):
    name = "Slow"
    description = (
        "the video slows down, this means the action unfolds at an unusually slow pace, making movements "
        "appear prolonged."
    )

    def rate(self, factor):
        return 1.0 / factor

    def draw_params(self, rng, video, length):
        if int(video.record["step"]) < 2:
            raise VideoError("Slow needs source frames between the sampled ones (sampling step >= 2)")
        return super().draw_params(rng, video, length)


class Fast(_SpeedChange):
    name = "Fast"
    description = (
        "the video speeds up, this means the segment plays at a high speed, compressing the action and making "
        "movements appear jerky or rushed."
    )
    min_factor = 1.5

    def rate(self, factor):
        return factor

    def _last_content(self, video: VideoFrames) -> float:
        """Last sample-time inside the source video."""
        record = video.record
        return (int(record["num_source_frames"]) - 1 - int(record["frame_indices"][0])) / int(record["step"])

    def draw_params(self, rng, video, length):
        params = super().draw_params(rng, video, length)
        # The fastest rate whose content, starting at the first frame, still fits in the video.
        fits = (self._last_content(video) + 1) / length
        if fits < self.min_factor:
            raise VideoError(f"Fast needs more source video after the segment (at most {fits:.2f}x fits)")
        params["speed_factor"] = min(params["speed_factor"], fits)
        return params

    def start_range(self, num_frames, length, params, video):
        last_start = math.floor(self._last_content(video) + 1 - length * params["speed_factor"] + 1e-9)
        return 0, max(0, min(num_frames - length, last_start))


# ----------------------------------------------------------------------------- registry


PERTURBATIONS: dict[str, Perturbation] = {}


def register(perturbation: Perturbation) -> Perturbation:
    """Add a perturbation to the registry; a name may be registered once."""
    if perturbation.name in PERTURBATIONS:
        raise ValueError(f"perturbation {perturbation.name!r} is already registered")
    PERTURBATIONS[perturbation.name] = perturbation
    return perturbation


for _cls in (
    Saturation,
    Noise,
    Blur,
    Grayscale,
    Invert,
    ChannelSwap,
    ZoomIn,
    Rotate180,
    ZoomOut,
    Mirror,
    Slow,
    Fast,
    StutterHold,
    Shuffle,
    Rotate90,
    Rotate270,
    Swap,
):
    register(_cls())

#: The paper's 14, in its order (fine-grained, spatial, temporal).
PAPER_PERTURBATIONS = tuple(name for name, p in PERTURBATIONS.items() if p.in_paper)
#: Anomaly Grounding in VideoSSR-30K, equal parts.
TRAINING_PERTURBATIONS = ("ChannelSwap", "Mirror", "ZoomOut", "Rotate180")
#: Anomaly Grounding subtypes of VIUBench.
VIUBENCH_PERTURBATIONS = ("ChannelSwap", "Rotate180", "ZoomOut", "Mirror", "Shuffle")


def get_perturbation(name: str) -> Perturbation:
    """Look a perturbation up by name, case-insensitively (``channelswap`` = ``ChannelSwap``).

    Raises:
        ConfigError: unknown name; the message lists the valid ones.
    """
    by_lower = {key.lower(): value for key, value in PERTURBATIONS.items()}
    found = by_lower.get(name.lower())
    if found is None:
        raise ConfigError(f"unknown perturbation {name!r}; choose from {', '.join(PERTURBATIONS)} (or 'all')")
    return found


# ----------------------------------------------------------------------------- helpers


def random_derangement(n: int, rng: np.random.Generator) -> list[int]:
    """A uniformly random permutation of ``range(n)`` with no fixed point (``n >= 2``).

    Rejection sampling: about e ~ 2.7 draws on average.
    """
    if n < 2:
        raise ValueError(f"a derangement needs n >= 2, got {n}")
    while True:
        order = rng.permutation(n)
        if not np.any(order == np.arange(n)):
            return [int(i) for i in order]


def split_into_runs(length: int, num_runs: int) -> list[tuple[int, int]]:
    """``(offset, run_length)`` of ``num_runs`` equal runs covering ``length`` (first runs longer)."""
    base, remainder = divmod(length, num_runs)
    runs, offset = [], 0
    for k in range(num_runs):
        run_length = base + (1 if k < remainder else 0)
        runs.append((offset, run_length))
        offset += run_length
    return runs


def _paste_centred(image: np.ndarray, width: int, height: int) -> np.ndarray:
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    small_h, small_w = image.shape[:2]
    x0, y0 = (width - small_w) // 2, (height - small_h) // 2
    canvas[y0 : y0 + small_h, x0 : x0 + small_w] = image
    return canvas


def _letterbox(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale ``image`` to fit inside ``width x height`` and centre it on black."""
    img_h, img_w = image.shape[:2]
    scale = min(width / img_w, height / img_h)
    new_w, new_h = max(1, int(img_w * scale)), max(1, int(img_h * scale))
    return _paste_centred(cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA), width, height)


def _resize_cover(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale ``image`` to cover ``width x height`` and crop the centre."""
    img_h, img_w = image.shape[:2]
    scale = max(width / img_w, height / img_h)
    new_w, new_h = max(width, math.ceil(img_w * scale)), max(height, math.ceil(img_h * scale))
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    x0, y0 = (new_w - width) // 2, (new_h - height) // 2
    return np.ascontiguousarray(resized[y0 : y0 + height, x0 : x0 + width])
