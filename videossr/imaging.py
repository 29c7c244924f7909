"""Pixel-budget arithmetic and JPEG encoding of frames (NumPy / OpenCV, no video decoding).

Frames are ``uint8`` arrays of shape ``(height, width, 3)`` in BGR channel order, OpenCV's
convention, because that is what the JPEG encoder takes without a copy.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

#: Quality of stored JPEG frames. 95 is what ``cv2.imwrite`` uses by default, i.e. what the
#: released code wrote; high enough that re-encoding artefacts stay far below the perturbations.
DEFAULT_JPEG_QUALITY = 95


def fit_to_pixel_budget(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """Largest ``(width, height)`` with the same aspect ratio and at most ``max_pixels`` pixels.

    Frames already within budget keep their size (never upscaled). ``max_pixels <= 0`` means no
    budget. Both sides stay >= 1.

    >>> fit_to_pixel_budget(1280, 720, 512 * 512)
    (682, 384)
    >>> fit_to_pixel_budget(176, 144, 512 * 512)
    (176, 144)
    """
    if width < 1 or height < 1:
        raise ValueError(f"frame size must be positive, got {width}x{height}")
    if max_pixels <= 0 or width * height <= max_pixels:
        return width, height
    scale = math.sqrt(max_pixels / (width * height))
    new_width = max(1, int(width * scale))
    new_height = max(1, int(height * scale))
    # Guard against float rounding pushing the product one row/column over budget.
    while new_width * new_height > max_pixels:
        if new_width >= new_height:
            new_width -= 1
        else:
            new_height -= 1
    return new_width, new_height


def encode_jpeg(frame_bgr: np.ndarray, quality: int = DEFAULT_JPEG_QUALITY) -> bytes:
    """JPEG bytes of a ``(H, W, 3)`` uint8 BGR frame. Deterministic for a given OpenCV build."""
    ok, buffer = cv2.imencode(".jpg", frame_bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"JPEG encoding failed for an array of shape {frame_bgr.shape}")
    return buffer.tobytes()
